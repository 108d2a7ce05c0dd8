"""History (docs/history.md) in the GeoPackage store: versions, batches, kept runs — written in place, in one SQLite
transaction, so an upsert of a few rows costs a few rows (no copy of the file).

The tables are real GeoPackage tables (created by GDAL, so QGIS opens them; the versions tables have no spatial
index), written through SQLite with the GeoPackage geometry encoding; the R-tree triggers GDAL installs on the
contract layers call ``ST_IsEmpty``/``ST_MinX``..., which this module provides to SQLite.  Reads go through
pyogrio (Arrow) with the filters as an SQL ``WHERE`` that SQLite answers from the indexes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import StoreError
from ..frames import conform, decode_lists, empty_frame, to_json_list
from ..schema import Layer, get_layer
from .history_schema import (
    HISTORY_TABLES,
    LEDGER_LAYERS,
    NEVER,
    OPEN_END,
    SCHEMA_VERSION,
    SINCE_EVER,
    conformed,
    history_layer,
    history_layers,
)

__all__ = ["GeoPackageHistory", "sql_condition", "GPKG_SRID"]

GPKG_SRID = 4490
_GEOM = "geom"
_SQL_TYPES = {
    "str": "TEXT",
    "enum": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "ratio": "REAL",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "DATETIME",
    "list": "TEXT",
}
_OPS = {"=", "!=", "<", "<=", ">", ">=", "in"}


# -- values ---------------------------------------------------------------------------------------------
def _literal(value: Any, ftype: str) -> str:
    if value is None:
        return "NULL"
    if ftype == "date":
        return "'" + pd.Timestamp(value).strftime("%Y-%m-%d") + "'"
    if ftype == "timestamp":
        return "'" + _ts_text(pd.Timestamp(value)) + "'"
    if ftype == "bool":
        return "1" if value else "0"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return repr(value.item() if isinstance(value, np.generic) else value)
    return "'" + str(value).replace("'", "''") + "'"


def _ts_text(ts: pd.Timestamp) -> str:
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _ts_texts(series: pd.Series) -> np.ndarray:
    """``_ts_text`` of every value of a timestamp column (object array; NaT -> None), formatting each distinct
    time once (an import's rows share a few times: 10^5 rows take milliseconds, not ``strftime`` seconds)."""
    utc = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[ms]")
    codes, uniques = pd.factorize(utc)
    texts = np.char.add(np.datetime_as_string(np.asarray(uniques, dtype="datetime64[ms]"), unit="ms"), "Z")
    out = np.asarray(texts, dtype=object)[codes] if len(uniques) else np.full(len(utc), None, dtype=object)
    out[codes < 0] = None
    return out


def sql_condition(layer: Layer, filters: Sequence[tuple[str, str, Any]]) -> str | None:
    """``[(field, op, value)]`` -> an SQL ``WHERE`` body (SQLite text/number comparisons)."""
    parts = []
    for name, op, value in filters:
        ftype = layer.field(name).type
        op = op.lower()
        if op not in _OPS:
            raise ValueError(f"unsupported operator {op!r}")
        if op == "in":
            values = list(value)
            if not values:
                return "0"
            parts.append(f'"{name}" IN ({", ".join(_literal(v, ftype) for v in values)})')
        elif value is None:
            parts.append(f'"{name}" IS {"NOT " if op == "!=" else ""}NULL')
        else:
            parts.append(f'"{name}" {op} {_literal(value, ftype)}')
    return " AND ".join(parts) if parts else None


def _column_values(series: pd.Series, ftype: str) -> list:
    """A conformed column as SQLite parameters (what GDAL writes for that GeoPackage type)."""
    if ftype == "list":
        return [to_json_list(v) for v in series]
    mask = series.isna().to_numpy()
    if ftype == "date":
        text = series.dt.strftime("%Y-%m-%d").astype(object).to_numpy()
    elif ftype == "timestamp":
        text = _ts_texts(series)
    elif ftype == "bool":
        text = series.astype(object).map(lambda v: None if v is pd.NA else int(bool(v))).to_numpy()
    elif ftype == "int":
        text = series.astype(object).to_numpy()
    elif ftype in ("float", "ratio"):
        text = series.to_numpy(dtype="float64", na_value=np.nan).astype(object)
    else:
        text = series.astype(object).to_numpy()
    out = text.tolist()
    if mask.any():
        for i in np.flatnonzero(mask):
            out[i] = None
    return out


def _gpkg_blobs(geoms: np.ndarray) -> list:
    """GeoPackage binary geometries (header with envelope + ISO WKB), MultiPolygon as ``promote_to_multi``."""
    geoms = np.asarray(geoms, dtype=object)
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    missing = shapely.is_missing(geoms)
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    empty = shapely.is_empty(geoms)
    out: list = []
    for i, blob in enumerate(wkb):
        if missing[i]:
            out.append(None)
        elif empty[i]:
            out.append(b"GP\x00\x11" + struct.pack("<i", GPKG_SRID) + blob)
        else:
            minx, miny, maxx, maxy = bounds[i]
            out.append(b"GP\x00\x03" + struct.pack("<i4d", GPKG_SRID, minx, maxx, miny, maxy) + blob)
    return out


def _from_gpkg_blob(blob: bytes | None):
    if blob is None:
        return None
    kind = (blob[3] >> 1) & 0x07
    return shapely.from_wkb(bytes(blob[8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get(kind, 0) :]))


def normalize_row(layer: Layer, row: dict) -> dict:
    """Plain values of either store -> the canonical Python values (Timestamp dates, bool, lists, None)."""
    import json

    out = {}
    for f in layer.fields:
        v = row.get(f.name)
        if v is None:
            out[f.name] = [] if f.type == "list" else None
        elif f.type == "date":
            out[f.name] = (
                pd.Timestamp(v).normalize().tz_localize(None)
                if pd.Timestamp(v).tzinfo is None
                else pd.Timestamp(v).tz_localize(None).normalize()
            )
        elif f.type == "timestamp":
            ts = pd.Timestamp(v)
            out[f.name] = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor("ms")
        elif f.type == "bool":
            out[f.name] = bool(v)
        elif f.type == "list":
            out[f.name] = json.loads(v) if isinstance(v, str) else list(v)
        elif f.type in ("float", "ratio"):
            out[f.name] = float(v)
        elif f.type == "int":
            out[f.name] = int(v)
        else:
            out[f.name] = str(v)
    if "geometry" in row:
        out["geometry"] = row["geometry"]
    return out


def _envelope(blob: bytes | None) -> tuple | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0x10:
        return None  # empty
    kind = (flags >> 1) & 0x07
    order = "<" if flags & 1 else ">"
    if kind >= 1:
        minx, maxx, miny, maxy = struct.unpack_from(order + "4d", blob, 8)
        return minx, maxx, miny, maxy
    size = 8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get(kind, 0)
    g = shapely.from_wkb(blob[size:])
    x0, y0, x1, y1 = g.bounds
    return x0, x1, y0, y1


def _register_functions(con: sqlite3.Connection) -> None:
    """The functions GDAL's R-tree triggers call (SpatiaLite/GDAL provide them; plain SQLite does not)."""
    con.create_function("ST_IsEmpty", 1, lambda b: 1 if b is None or _envelope(b) is None else 0, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, lambda b, i=i: (_envelope(b) or (None,) * 4)[i], deterministic=True)


class GeoPackageHistory:
    """Mixin of :class:`gis.store.gpkg.GeoPackageStore`: the history tables (see :mod:`gis.store.history_schema`)."""

    # -- schema -----------------------------------------------------------------------------------
    def history_version(self) -> str | None:
        """The history schema version recorded in ``store_meta`` (None: a store from before history)."""
        return self.meta().get("schema_version")

    def _bootstrap(self) -> None:
        """A new file: an empty GeoPackage (GDAL writes the required GeoPackage tables) with ``store_meta``."""
        if not self.path.exists() or _META not in self._tables_of(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pyogrio.write_dataframe(
                pd.DataFrame({"key": pd.Series([], dtype="string"), "value": pd.Series([], dtype="string")}),
                self.path,
                layer=_META,
                driver="GPKG",
            )

    @staticmethod
    def _create_tables(con: sqlite3.Connection, layers: Iterable[Layer], *, rtree: bool) -> None:
        """Tables by SQL inside the caller's transaction, registered as GDAL registers them (``gpkg_contents``,
        ``gpkg_geometry_columns``, feature count triggers and, with ``rtree``, the spatial index and its triggers)."""
        present = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        con.execute(
            "CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT,column_name TEXT,extension_name "
            "TEXT NOT NULL,definition TEXT NOT NULL,scope TEXT NOT NULL,CONSTRAINT ge_tce UNIQUE "
            "(table_name, column_name, extension_name))"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL,column_name TEXT "
            "NOT NULL,geometry_type_name TEXT NOT NULL,srs_id INTEGER NOT NULL,z TINYINT NOT NULL,m TINYINT "
            "NOT NULL,CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),CONSTRAINT "
            "uk_gc_table_name UNIQUE (table_name),CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES "
            "gpkg_contents(table_name),CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES "
            "gpkg_spatial_ref_sys (srs_id))"
        )
        if not con.execute("SELECT 1 FROM gpkg_spatial_ref_sys WHERE srs_id = ?", (GPKG_SRID,)).fetchone():
            import pyproj

            con.execute(
                "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, NULL)",
                (
                    "China Geodetic Coordinate System 2000",
                    GPKG_SRID,
                    GPKG_SRID,
                    pyproj.CRS.from_epsg(GPKG_SRID).to_wkt("WKT1_GDAL"),
                ),
            )
        for layer in layers:
            t = layer.name
            if t in present:
                continue
            cols = ['"fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL']
            if layer.is_spatial:
                cols.append(f'"{_GEOM}" MULTIPOLYGON')
            history = t in HISTORY_TABLES  # their times are text in one format, compared as text by the indexes
            cols += [
                f'"{f.name}" {"TEXT" if history and f.type == "timestamp" else _SQL_TYPES[f.type]}'
                for f in layer.fields
            ]
            con.execute(f'CREATE TABLE "{t}" ({", ".join(cols)})')
            con.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                "VALUES (?, ?, ?, '', ?)",
                (t, "features" if layer.is_spatial else "attributes", t, GPKG_SRID if layer.is_spatial else 0),
            )
            con.execute("INSERT OR REPLACE INTO gpkg_ogr_contents (table_name, feature_count) VALUES (?, 0)", (t,))
            con.execute(
                f'CREATE TRIGGER "trigger_insert_feature_count_{t}" AFTER INSERT ON "{t}" BEGIN UPDATE '
                f"gpkg_ogr_contents SET feature_count = feature_count + 1 WHERE lower(table_name) = "
                f"lower('{t}'); END"
            )
            con.execute(
                f'CREATE TRIGGER "trigger_delete_feature_count_{t}" AFTER DELETE ON "{t}" BEGIN UPDATE '
                f"gpkg_ogr_contents SET feature_count = feature_count - 1 WHERE lower(table_name) = "
                f"lower('{t}'); END"
            )
            if not layer.is_spatial:
                continue
            con.execute(
                "INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'MULTIPOLYGON', ?, 0, 0)", (t, _GEOM, GPKG_SRID)
            )
            if rtree:
                for statement in _RTREE.format(t=t, g=_GEOM).split(";\n"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(
                    "INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
                    "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                    (t, _GEOM),
                )

    def upgrade_history(self) -> bool:
        """Create the history tables and make the present ledger rows their first versions (in place, once,
        one transaction).  Returns True when the store was upgraded now; layers, decisions and meta are kept."""
        if self.path.exists() and self.history_version() == SCHEMA_VERSION:
            return False
        with self._lock():
            if self.path.exists() and self.history_version() == SCHEMA_VERSION:
                return False
            self._bootstrap()
            from .history_schema import utc_now

            with self._connect() as con:
                self._create_tables(con, [get_layer("decisions")], rtree=False)
                for statement in _APPEND_ONLY.split(";\n"):
                    if statement.strip():
                        con.execute(statement)
                self._create_tables(con, history_layers(), rtree=False)
                for name in LEDGER_LAYERS:
                    for statement in _version_indexes(f"{name}_versions"):
                        con.execute(statement)
                con.execute(
                    'CREATE INDEX IF NOT EXISTS "ix_idle_assessment_runs_run" ON "idle_assessment_runs" '
                    "(run_id, parcel_id)"
                )
                self._migrate_current_layers(con, utc_now())
                _set_meta(con, {"schema_version": SCHEMA_VERSION})
                con.execute("COMMIT")
        return True

    def _migrate_current_layers(self, con: sqlite3.Connection, now: pd.Timestamp) -> None:
        """Rows already in the ledger layers become versions valid since ever, recorded now (batch ``upgrade``)."""
        from ..history import row_hashes

        tables = {r[0]: r[1] for r in con.execute("SELECT table_name, feature_count FROM gpkg_ogr_contents")}
        done = []
        for name in LEDGER_LAYERS:
            if not tables.get(name) or tables.get(f"{name}_versions"):
                continue
            frame = self.read_layer(name)
            versions = _as_versions(frame, name, now, batch_id="upgrade")
            versions["row_hash"] = row_hashes(frame, get_layer(name))
            versions["version_id"] = np.arange(1, len(frame) + 1)
            self._insert(con, history_layer(f"{name}_versions"), versions)
            done.append(name)
        if done:
            self._insert(
                con,
                history_layer("batches"),
                pd.DataFrame(
                    {
                        "batch_id": ["upgrade"],
                        "started_at": [now],
                        "recorded_at": [now],
                        "imported_by": ["landrenew"],
                        "mode": ["upgrade"],
                        "layers": [done],
                        "note": ["升级前已有的台账数据，视为自始有效"],
                    }
                ),
            )
            self._fix_counts(con, [f"{n}_versions" for n in done])

    # -- plumbing -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self):
        con = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        con.execute("PRAGMA cache_size = -262144")  # 256 MiB: a large batch stays in memory until COMMIT
        _register_functions(con)
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            if con.in_transaction:
                con.execute("ROLLBACK")
            con.close()

    def _insert(self, con: sqlite3.Connection, layer: Layer, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        frame = conformed(frame, layer)
        columns = [f.name for f in layer.fields]
        values = [_column_values(frame[f.name], f.type) for f in layer.fields]
        if layer.is_spatial:
            columns.append(_GEOM)
            values.append(_gpkg_blobs(frame.geometry.array))
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        con.executemany(f'INSERT INTO "{layer.name}" ({names}) VALUES ({marks})', zip(*values))

    @staticmethod
    def _fix_counts(con: sqlite3.Connection, tables: Iterable[str]) -> None:
        for t in tables:
            con.execute(
                f'UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM "{t}") '
                "WHERE lower(table_name) = lower(?)",
                (t,),
            )

    # -- reading ------------------------------------------------------------------------------------
    def read_history(
        self,
        table: str,
        *,
        filters: Sequence[tuple[str, str, Any]] = (),
        columns: Sequence[str] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame:
        """Rows of a history table matching ``filters`` (``[(field, op, value)]``), in insertion order."""
        layer = history_layer(table)
        if table not in self._tables():
            return _select(empty_frame(layer), columns, geometry)
        clause = sql_condition(layer, filters)
        if clause == "0":
            return _select(empty_frame(layer), columns, geometry)
        read_geometry = layer.is_spatial and geometry
        try:
            frame = pyogrio.read_dataframe(
                self.path,
                layer=table,
                where=clause,
                use_arrow=True,
                columns=list(columns) if columns is not None else None,
                read_geometry=read_geometry,
                fid_as_index=True,
            )
        except Exception as exc:
            raise StoreError(
                f"读取 {layer.label} 失败：{exc}",
                detail=f"reading {table} from {self.path}: {exc}",
                fix="检查 GeoPackage 文件是否完整",
            ) from exc
        if not frame.index.is_monotonic_increasing:  # SQLite may answer in an index's order: insertion order
            frame = frame.sort_index(kind="stable")
        frame = decode_lists(frame, layer)
        if columns is not None or not read_geometry:
            return _partial(frame, layer, columns, read_geometry)
        return conform(frame, layer).reset_index(drop=True)

    def history_rows(self, table: str, *, filters: Sequence[tuple[str, str, Any]] = ()) -> list[dict]:
        """A few rows of a history table as plain values (:func:`normalize_row`), straight from SQLite — for
        small keyed reads (one parcel's versions) where opening the layer through GDAL would dominate."""
        layer = history_layer(table)
        if not self.path.exists():
            return []
        clause = sql_condition(layer, filters)
        cols = [*layer.field_names, *([_GEOM] if layer.is_spatial else [])]
        query = (
            f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}"'
            + (f" WHERE {clause}" if clause else "")
            + " ORDER BY fid"
        )
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            try:
                rows = con.execute(query).fetchall()
            except sqlite3.OperationalError:
                return []
        out = []
        for r in rows:
            item = dict(zip(cols, r))
            if layer.is_spatial:
                item["geometry"] = _from_gpkg_blob(item.pop(_GEOM))
            out.append(normalize_row(layer, item))
        return out

    # -- writing ------------------------------------------------------------------------------------
    def write_history(self, tx) -> None:
        """Apply a :class:`gis.store.history_schema.HistoryWrite` in one SQLite transaction (all or nothing).

        A large write (:data:`BULK_ROWS` rows or more, e.g. a full import) goes to a copy of the file instead —
        SQL for the updates, GDAL's Arrow writer for the rows — which then replaces the file atomically.  New
        versions that are copies of the rows just written to their layer (a first import: ``tx.mirrors``) are
        copied from that layer in SQL (:func:`_copy_versions`), so the geometry is serialised once.
        """
        self.upgrade_history()
        rows = (
            sum(len(f) for f in tx.append.values())
            + sum(len(f) for f in tx.layer_replace.values())
            + sum(len(f) for _, f in tx.layer_rows.values() if f is not None)
            + sum(len(f) for f in tx.layer_append.values())
        )
        if rows >= BULK_ROWS:
            self._write_history_bulk(tx)
            return
        with self._lock():
            needed = [get_layer(n) for n in (*tx.layer_rows, *tx.layer_replace, *tx.layer_append)]
            with self._connect() as con:
                self._create_tables(con, needed, rtree=True)
                touched = set()
                for table, (ids, at, batch_id) in tx.supersede.items():
                    for chunk in _chunks(ids):
                        con.execute(
                            f'UPDATE "{table}" SET superseded_at = ?, superseded_by = ? '
                            f"WHERE version_id IN ({','.join('?' * len(chunk))})",
                            (_ts_text(at), batch_id, *map(int, chunk)),
                        )
                for table, hashes in tx.row_hashes.items():
                    con.executemany(
                        f'UPDATE "{table}" SET row_hash = ? WHERE version_id = ?',
                        [(h, int(i)) for i, h in hashes.items()],
                    )
                for table, frame in tx.append.items():
                    self._insert(con, history_layer(table), frame)
                    touched.add(table)
                for name, frame in tx.layer_replace.items():
                    con.execute(f'DELETE FROM "{name}"')
                    self._insert(con, get_layer(name), frame)
                    touched.add(name)
                for name, (keys, frame) in tx.layer_rows.items():
                    _delete_keys(con, name, get_layer(name).key_fields[0], keys)
                    self._insert(con, get_layer(name), frame)
                    touched.add(name)
                for name, frame in tx.layer_append.items():
                    self._insert(con, get_layer(name), frame)
                    touched.add(name)
                if tx.meta:
                    _set_meta(con, tx.meta)
                    touched.add(_META)
                self._fix_counts(con, touched)
                con.execute("COMMIT")

    def _write_history_bulk(self, tx) -> None:
        import os
        import shutil
        import uuid

        with self._lock():
            tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
            try:
                shutil.copy2(self.path, tmp)
                needed = [get_layer(n) for n in (*tx.layer_rows, *tx.layer_append)]
                con = sqlite3.connect(tmp, isolation_level=None, timeout=60)
                _register_functions(con)
                try:
                    con.execute("BEGIN IMMEDIATE")
                    self._create_tables(con, needed, rtree=True)
                    for table, (ids, at, batch_id) in tx.supersede.items():
                        for chunk in _chunks(ids):
                            con.execute(
                                f'UPDATE "{table}" SET superseded_at = ?, superseded_by = ? '
                                f"WHERE version_id IN ({','.join('?' * len(chunk))})",
                                (_ts_text(at), batch_id, *map(int, chunk)),
                            )
                    for table, hashes in tx.row_hashes.items():
                        con.executemany(
                            f'UPDATE "{table}" SET row_hash = ? WHERE version_id = ?',
                            [(h, int(i)) for i, h in hashes.items()],
                        )
                    for name, (keys, _frame) in tx.layer_rows.items():
                        _delete_keys(con, name, get_layer(name).key_fields[0], keys)
                    small = {t: f for t, f in tx.append.items() if len(f) < 1000}
                    # a large append into a versions table holding fewer rows than it adds (a first import): its
                    # indexes are built once after the rows are in (into a large table, they are updated as usual)
                    held = dict(con.execute("SELECT table_name, feature_count FROM gpkg_ogr_contents").fetchall())
                    reindex = [
                        t
                        for t, f in tx.append.items()
                        if t not in small and t.endswith("_versions") and (held.get(t) or 0) < len(f)
                    ]
                    for table in reindex:
                        for index in _version_indexes(table, names_only=True):
                            con.execute(f'DROP INDEX IF EXISTS "{index}"')
                    for table, frame in small.items():
                        self._insert(con, history_layer(table), frame)
                    if tx.meta:
                        _set_meta(con, tx.meta)
                    self._fix_counts(con, [*small, *([_META] if tx.meta else [])])
                    con.execute("COMMIT")
                finally:
                    con.close()
                written = {*tx.layer_replace, *(n for n, (_k, f) in tx.layer_rows.items() if f is not None and len(f))}
                copied = {t: n for t, n in tx.mirrors.items() if t in tx.append and t not in small and n in written}
                for table, frame in tx.append.items():
                    if table not in small and table not in copied:
                        _gdal_append(tmp, history_layer(table), frame)
                for name, frame in tx.layer_replace.items():
                    self._write_frame(tmp, name, frame, append=False)
                for name, (_keys, frame) in tx.layer_rows.items():
                    if frame is not None and len(frame):
                        _gdal_append(tmp, get_layer(name), frame)
                for name, frame in tx.layer_append.items():
                    if len(frame):
                        _gdal_append(tmp, get_layer(name), frame)
                for table, name in copied.items():
                    layer = get_layer(name)
                    wrote = tx.layer_replace[name] if name in tx.layer_replace else tx.layer_rows[name][1]
                    keys = wrote[layer.key_fields[0]]
                    if not _copy_versions(tmp, history_layer(table), layer, tx.append[table], keys):
                        _gdal_append(tmp, history_layer(table), tx.append[table])
                if reindex:
                    with contextlib.closing(sqlite3.connect(tmp, isolation_level=None, timeout=60)) as con:
                        con.execute("BEGIN IMMEDIATE")
                        for table in reindex:
                            for statement in _version_indexes(table):
                                con.execute(statement)
                        con.execute("COMMIT")
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise


def _copy_versions(path, vlayer: Layer, layer: Layer, frame: pd.DataFrame, written: pd.Series) -> bool:
    """Append ``frame`` (new versions whose content is the row of their key just written to ``layer``) to the
    versions table by copying the layer's stored values and geometry in SQL, adding only the version fields:
    the geometry is not serialised a second time.

    ``written``: the keys of the rows just appended to the layer, in order (they hold its last fids).  Each
    version is joined to its row by ``fid`` (the primary key) and the key is compared as well; False, with
    nothing written, unless every version finds its row — the caller then appends the frame itself.  Version
    fields that are the same for every row are bound once, and the per-row feature-count trigger is set aside
    during the insert (the count is set after), so 10^5 versions take well under a second."""
    key = layer.key_fields[0]
    own = [f for f in vlayer.fields if f.name not in layer.field_names]  # version_id + the version fields
    frame = conformed(frame, vlayer)
    pos = pd.Index(written.astype(object).to_numpy()).get_indexer(frame[key].astype(object).to_numpy())
    if (pos < 0).any():
        return False
    with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=60)) as con:
        con.execute("PRAGMA cache_size = -262144")
        _register_functions(con)
        geom = None
        if layer.is_spatial:
            row = con.execute(
                "SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (layer.name,)
            ).fetchone()
            if row is None:
                return False
            geom = row[0]
        last = con.execute(f'SELECT max(fid) FROM "{layer.name}"').fetchone()[0]
        if last is None:
            return False
        lfid = (pos + (int(last) - len(written) + 1)).tolist()
        keys = _column_values(frame[key], layer.field(key).type)
        varying, constant = [], []
        for f in own:
            column = frame[f.name]
            if column.nunique(dropna=False) == 1:
                constant.append((f, _column_values(column.iloc[:1], f.type)))
            else:
                varying.append((f, _column_values(column, f.type)))
        names = [f'"{f.name}"' for f, _ in varying]
        fields = [f'"{f.name}"' for f in layer.fields]
        target = [*fields, *names, *(f'"{f.name}"' for f, _ in constant), *([f'"{_GEOM}"'] if geom else [])]
        source = [
            *(f"l.{c}" for c in fields),
            *(f"v.{c}" for c in names),
            *("?" for _ in constant),
            *([f'l."{geom}"'] if geom else []),
        ]
        trigger = f"trigger_insert_feature_count_{vlayer.name}"
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                'CREATE TEMP TABLE "_new_versions" (pos INTEGER PRIMARY KEY, lfid INTEGER, k'
                + "".join(f", {c}" for c in names)
                + ")"
            )
            con.executemany(
                f'INSERT INTO "_new_versions" (lfid, k{"".join(", " + c for c in names)}) '
                f"VALUES ({', '.join('?' * (len(names) + 2))})",
                zip(lfid, keys, *(values for _, values in varying)),
            )
            sql = con.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)
            ).fetchone()
            if sql:
                con.execute(f'DROP TRIGGER "{trigger}"')
            n = con.execute(
                f'INSERT INTO "{vlayer.name}" ({", ".join(target)}) SELECT {", ".join(source)} '
                f'FROM "_new_versions" v JOIN "{layer.name}" l ON l.fid = v.lfid WHERE l."{key}" = v.k ORDER BY v.pos',
                [values[0] for _, values in constant],
            ).rowcount
            if n != len(frame):
                con.execute("ROLLBACK")
                return False
            if sql:
                con.execute(sql[0])
            con.execute('DROP TABLE temp."_new_versions"')
            con.execute(
                f'UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM "{vlayer.name}") '
                "WHERE lower(table_name) = lower(?)",
                (vlayer.name,),
            )
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    return True


def _gdal_append(path, layer: Layer, frame: pd.DataFrame) -> None:
    """Append rows with GDAL's Arrow writer; a history table's times as text in the one format of the store."""
    from ..frames import encode_lists

    frame = encode_lists(conformed(frame, layer), layer)
    for f in layer.fields:
        if f.type == "date":
            frame[f.name] = frame[f.name].astype("date32[pyarrow]")
        elif f.type == "timestamp" and layer.name in HISTORY_TABLES:
            frame[f.name] = pd.Series(_column_values(frame[f.name], "timestamp"), index=frame.index, dtype="string")
    kwargs: dict[str, Any] = {"layer": layer.name, "driver": "GPKG", "use_arrow": True, "append": True}
    if layer.is_spatial:
        kwargs.update(promote_to_multi=True, geometry_type="MultiPolygon")
    pyogrio.write_dataframe(frame, path, **kwargs)


_META = "store_meta"

#: from this many rows a history write goes through a copy of the file and GDAL's Arrow writer
BULK_ROWS = 20_000

_APPEND_ONLY = """CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, '审定记录只能追加，不能修改 (decisions are append-only)'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, '审定记录只能追加，不能删除 (decisions are append-only)'); END"""

# GDAL's R-tree spatial index of a GeoPackage feature table (the statements GDAL 3.x writes)
_RTREE = """CREATE VIRTUAL TABLE "rtree_{t}_{g}" USING rtree(id, minx, maxx, miny, maxy);
CREATE TRIGGER "rtree_{t}_{g}_insert" AFTER INSERT ON "{t}" WHEN (new."{g}" NOT NULL AND NOT ST_IsEmpty(NEW."{g}")) BEGIN INSERT OR REPLACE INTO "rtree_{t}_{g}" VALUES (NEW."fid",ST_MinX(NEW."{g}"), ST_MaxX(NEW."{g}"),ST_MinY(NEW."{g}"), ST_MaxY(NEW."{g}")); END;
CREATE TRIGGER "rtree_{t}_{g}_update6" AFTER UPDATE OF "{g}" ON "{t}" WHEN OLD."fid" = NEW."fid" AND (NEW."{g}" NOTNULL AND NOT ST_IsEmpty(NEW."{g}")) AND (OLD."{g}" NOTNULL AND NOT ST_IsEmpty(OLD."{g}")) BEGIN UPDATE "rtree_{t}_{g}" SET minx = ST_MinX(NEW."{g}"), maxx = ST_MaxX(NEW."{g}"),miny = ST_MinY(NEW."{g}"), maxy = ST_MaxY(NEW."{g}") WHERE id = NEW."fid";END;
CREATE TRIGGER "rtree_{t}_{g}_update7" AFTER UPDATE OF "{g}" ON "{t}" WHEN OLD."fid" = NEW."fid" AND (NEW."{g}" NOTNULL AND NOT ST_IsEmpty(NEW."{g}")) AND (OLD."{g}" ISNULL OR ST_IsEmpty(OLD."{g}")) BEGIN INSERT INTO "rtree_{t}_{g}" VALUES (NEW."fid",ST_MinX(NEW."{g}"), ST_MaxX(NEW."{g}"),ST_MinY(NEW."{g}"), ST_MaxY(NEW."{g}")); END;
CREATE TRIGGER "rtree_{t}_{g}_update2" AFTER UPDATE OF "{g}" ON "{t}" WHEN OLD."fid" = NEW."fid" AND (NEW."{g}" ISNULL OR ST_IsEmpty(NEW."{g}")) BEGIN DELETE FROM "rtree_{t}_{g}" WHERE id = OLD."fid"; END;
CREATE TRIGGER "rtree_{t}_{g}_update5" AFTER UPDATE ON "{t}" WHEN OLD."fid" != NEW."fid" AND (NEW."{g}" NOTNULL AND NOT ST_IsEmpty(NEW."{g}")) BEGIN DELETE FROM "rtree_{t}_{g}" WHERE id = OLD."fid"; INSERT OR REPLACE INTO "rtree_{t}_{g}" VALUES (NEW."fid",ST_MinX(NEW."{g}"), ST_MaxX(NEW."{g}"),ST_MinY(NEW."{g}"), ST_MaxY(NEW."{g}")); END;
CREATE TRIGGER "rtree_{t}_{g}_update4" AFTER UPDATE ON "{t}" WHEN OLD."fid" != NEW."fid" AND (NEW."{g}" ISNULL OR ST_IsEmpty(NEW."{g}")) BEGIN DELETE FROM "rtree_{t}_{g}" WHERE id IN (OLD."fid", NEW."fid"); END;
CREATE TRIGGER "rtree_{t}_{g}_delete" AFTER DELETE ON "{t}" WHEN old."{g}" NOT NULL BEGIN DELETE FROM "rtree_{t}_{g}" WHERE id = OLD."fid"; END"""


def _version_indexes(table: str, *, names_only: bool = False) -> list[str]:
    """The indexes of a versions table (``CREATE INDEX IF NOT EXISTS`` statements, or their names): by key and
    end, by version id, by the two times (the "as known on day D" reads)."""
    key = get_layer(table.removesuffix("_versions")).key_fields[0]
    columns = {
        f"ix_{table}_key": f'"{key}", valid_to',
        f"ix_{table}_vid": "version_id",
        f"ix_{table}_time": "superseded_at, valid_to, valid_from",
    }
    if names_only:
        return list(columns)
    return [f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({cols})' for name, cols in columns.items()]


def _set_meta(con: sqlite3.Connection, meta: Mapping[str, Any]) -> None:
    con.executemany(f"DELETE FROM {_META} WHERE key = ?", [(str(k),) for k in meta])
    con.executemany(f"INSERT INTO {_META} (key, value) VALUES (?, ?)", [(str(k), str(v)) for k, v in meta.items()])


def _delete_keys(con: sqlite3.Connection, table: str, key: str, keys: Iterable[Any]) -> None:
    """Delete a layer's rows of some keys in one statement (one pass over a table that has no index on its key,
    where chunks of ``IN (?, ...)`` would scan it once per 900 keys)."""
    keys = [str(k) for k in keys]
    if not keys:
        return
    con.execute('CREATE TEMP TABLE IF NOT EXISTS "_delete_keys" (k TEXT PRIMARY KEY)')
    con.execute('DELETE FROM temp."_delete_keys"')
    con.executemany('INSERT OR IGNORE INTO temp."_delete_keys" (k) VALUES (?)', [(k,) for k in keys])
    con.execute(f'DELETE FROM "{table}" WHERE "{key}" IN (SELECT k FROM temp."_delete_keys")')
    con.execute('DELETE FROM temp."_delete_keys"')


def _chunks(values: list, size: int = 900) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _select(frame: pd.DataFrame, columns: Sequence[str] | None, geometry: bool) -> pd.DataFrame:
    if columns is not None:
        keep = [*columns, *(["geometry"] if geometry and "geometry" in frame.columns else [])]
        return pd.DataFrame(frame[keep]) if not geometry else frame[keep]
    if not geometry and "geometry" in frame.columns:
        return pd.DataFrame(frame.drop(columns="geometry"))
    return frame


def _partial(frame: pd.DataFrame, layer: Layer, columns: Sequence[str] | None, geometry: bool) -> pd.DataFrame:
    """Conform only the columns read (same types as a full read)."""
    from ..frames import _cast  # the one cast of every store

    names = list(columns) if columns is not None else layer.field_names
    out = {n: _cast(frame[n], layer.field(n).type) for n in names}
    df = pd.DataFrame(out, index=frame.index)
    if geometry and "geometry" in frame.columns:
        import geopandas as gpd

        return gpd.GeoDataFrame(df, geometry=frame.geometry, crs=frame.crs).reset_index(drop=True)
    return df.reset_index(drop=True)


def _as_versions(frame: pd.DataFrame, name: str, now: pd.Timestamp, *, batch_id: str) -> pd.DataFrame:
    out = frame.copy()
    out["valid_from"] = SINCE_EVER
    out["valid_to"] = OPEN_END
    out["recorded_at"] = now
    out["superseded_at"] = NEVER
    out["batch_id"] = batch_id
    out["retired"] = False
    out["change"] = "added"
    return out


__all__ += ["HISTORY_TABLES"]
