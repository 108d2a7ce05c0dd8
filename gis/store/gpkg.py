"""The embedded default store: one GeoPackage file (OGC standard, opens in QGIS).

Writes are all-or-nothing: the layers are written into a copy of the file which then atomically replaces
the original (``os.replace``), under an exclusive lock file, so a failure midway leaves the store exactly
as it was and readers never see half a write.  ``decisions`` is appended with SQLite's own transaction
(``BEGIN IMMEDIATE``) after the version check, and triggers refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio

from ..errors import StoreError
from ..frames import conform, decode_lists, empty_frame, encode_lists
from ..schema import get_layer, layer_names
from .base import Store, assessment_version, decision_version
from .gpkg_history import GeoPackageHistory
from .history_schema import HISTORY_TABLES, LEDGER_LAYERS, history_layer

__all__ = ["GeoPackageStore"]

META_TABLE = "store_meta"
_APPEND_ONLY_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, '审定记录只能追加，不能修改 (decisions are append-only)'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, '审定记录只能追加，不能删除 (decisions are append-only)'); END;
"""


def _sql_literal(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class GeoPackageStore(GeoPackageHistory, Store):
    """A GeoPackage file as the store.

    Parameters
    ----------
    path
        The ``.gpkg`` file; created (with its folder) on the first write.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser().resolve()
        self.url = str(self.path)
        if self.path.suffix.lower() != ".gpkg":
            raise StoreError(
                f"存储文件应为 .gpkg：{self.path}",
                detail=f"not a .gpkg path: {self.path}",
                fix="使用以 .gpkg 结尾的路径，或 postgresql:// 地址",
            )

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

    # -- locking --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- reading --------------------------------------------------------------------------
    def _tables(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            rows = con.execute("SELECT table_name, feature_count FROM gpkg_ogr_contents").fetchall()
            counts = {}
            for name, count in rows:
                if count is None or count < 0:
                    count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                counts[name] = int(count)
            return counts

    def layer_counts(self) -> dict[str, int]:
        tables = self._tables()
        return {name: tables[name] for name in layer_names() if name in tables}

    def read_layer(self, name: str, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        layer = get_layer(name)
        if name not in self._tables():
            return empty_frame(layer)
        clause = None
        if where:
            parts = []
            for field, value in where.items():
                layer.field(field)  # validates the name
                if isinstance(value, (list, tuple, set)):
                    if not value:
                        return empty_frame(layer)
                    parts.append(f'"{field}" IN ({", ".join(_sql_literal(v) for v in value)})')
                else:
                    parts.append(f'"{field}" = {_sql_literal(value)}')
            clause = " AND ".join(parts)
        try:
            frame = pyogrio.read_dataframe(
                self.path, layer=name, where=clause, use_arrow=True, read_geometry=layer.is_spatial
            )
        except Exception as exc:  # pyogrio raises DataSourceError / DataLayerError
            raise StoreError(
                f"读取图层 {name} 失败：{exc}",
                detail=f"reading {name} from {self.path}: {exc}",
                fix="检查 GeoPackage 文件是否完整，或重新运行导入",
            ) from exc
        if "fid" in frame.columns:
            frame = frame.drop(columns="fid")
        frame = decode_lists(frame, layer)
        return conform(frame, layer).reset_index(drop=True)

    def read_layer_for_export(self, name: str, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """The layer with list fields left as the JSON text GeoPackage keeps (``[]`` for none); the other
        fields conformed.  One Arrow read, no JSON decoding (the GeoJSON export splices the text in)."""
        from dataclasses import replace

        layer = get_layer(name)
        if name not in self._tables():
            return empty_frame(layer)
        parts = []
        for field, value in (where or {}).items():
            layer.field(field)  # validates the name
            if isinstance(value, (list, tuple, set)):
                if not value:
                    return empty_frame(layer)
                parts.append(f'"{field}" IN ({", ".join(_sql_literal(v) for v in value)})')
            else:
                parts.append(f'"{field}" = {_sql_literal(value)}')
        try:
            raw = pyogrio.read_dataframe(
                self.path, layer=name, where=" AND ".join(parts) or None, use_arrow=True, read_geometry=layer.is_spatial
            )
        except Exception as exc:
            raise StoreError(
                f"读取图层 {name} 失败：{exc}",
                detail=f"reading {name} from {self.path}: {exc}",
                fix="检查 GeoPackage 文件是否完整，或重新运行导入",
            ) from exc
        lists = {n: raw[n] for n in layer.fields_of_type("list") if n in raw.columns}
        rest = raw.drop(columns=[*lists, *(["fid"] if "fid" in raw.columns else [])])
        if not lists:
            return conform(rest, layer, keep_extra=False).reset_index(drop=True)
        out = conform(rest, replace(layer, fields=tuple(f for f in layer.fields if f.type != "list")))
        for field, series in lists.items():
            out[field] = series.astype(object).where(series.notna(), "[]").to_numpy()
        order = [f.name for f in layer.fields if f.name in out.columns]
        if layer.is_spatial:
            order.append(out.geometry.name)
        return out[order].reset_index(drop=True)

    def meta(self) -> dict[str, str]:
        if META_TABLE not in self._tables():
            return {}
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            return dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())

    # -- writing --------------------------------------------------------------------------
    def _write_frame(self, target: Path, name: str, frame: pd.DataFrame, *, append: bool) -> None:
        from .history_schema import conformed  # a frame conformed once is not cast again

        layer = get_layer(name)
        frame = encode_lists(conformed(frame, layer), layer)
        for field in layer.fields_of_type("date"):  # a real DATE column (GeoPackage spec), not DATETIME
            frame[field] = frame[field].astype("date32[pyarrow]")
        kwargs: dict[str, Any] = {"layer": name, "driver": "GPKG", "use_arrow": True}
        if layer.is_spatial:
            kwargs.update(promote_to_multi=True, geometry_type="MultiPolygon")
        if append:
            kwargs["append"] = True
        pyogrio.write_dataframe(frame, target, **kwargs)

    def _ensure_decisions(self, target: Path) -> None:
        if "decisions" not in self._tables_of(target):
            self._write_frame(target, "decisions", empty_frame("decisions"), append=False)
        with contextlib.closing(sqlite3.connect(target)) as con:
            con.executescript(_APPEND_ONLY_TRIGGERS)
            con.commit()

    @staticmethod
    def _tables_of(path: Path) -> set[str]:
        if not path.exists():
            return set()
        return {row[0] for row in pyogrio.list_layers(path)}

    def write_layers(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        append: tuple[str, ...] = (),
        meta: Mapping[str, str] | None = None,
    ) -> None:
        self._check_writable(frames)
        if any(n in LEDGER_LAYERS and n not in append for n in frames):  # versions follow (docs/history.md §2)
            from ..batches import record_frames

            record_frames(self, frames, append=append, meta=meta)
            return
        with self._lock():
            tmp = self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
            try:
                if self.path.exists():
                    shutil.copy2(self.path, tmp)
                for name, frame in frames.items():
                    self._write_frame(tmp, name, frame, append=name in append and name in self._tables_of(tmp))
                if meta:
                    old = {}
                    if META_TABLE in self._tables_of(tmp):
                        old = dict(
                            pyogrio.read_dataframe(tmp, layer=META_TABLE, read_geometry=False)[
                                ["key", "value"]
                            ].itertuples(index=False, name=None)
                        )
                    old.update({str(k): str(v) for k, v in meta.items()})
                    pyogrio.write_dataframe(
                        pd.DataFrame({"key": list(old), "value": list(old.values())}),
                        tmp,
                        layer=META_TABLE,
                        driver="GPKG",
                    )
                self._ensure_decisions(tmp)
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    # -- decisions ------------------------------------------------------------------------
    @staticmethod
    def _current_version(con: sqlite3.Connection, parcel_id: str) -> str | None:
        tables = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        if "decisions" in tables:
            row = con.execute(
                "SELECT decision_id FROM decisions WHERE parcel_id = ? ORDER BY decided_at DESC, fid DESC LIMIT 1",
                (parcel_id,),
            ).fetchone()
            if row:
                return decision_version(row[0])
        if "idle_assessment" in tables:
            row = con.execute(
                "SELECT as_of, rules_version, route, sub_route FROM idle_assessment WHERE parcel_id = ?", (parcel_id,)
            ).fetchone()
            if row:
                return assessment_version(*row)
        return None

    def current_version(self, parcel_id: str) -> str | None:
        if not self.path.exists():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            return self._current_version(con, parcel_id)

    def append_decision(self, decision: Mapping[str, Any], snapshot: Mapping[str, Any] | None = None) -> None:
        row = conform(pd.DataFrame([dict(decision)]), "decisions").iloc[0]
        if not self.path.exists():
            raise StoreError("存储为空，尚无研判结果可审定", fix="先运行 landrenew assess")
        self.upgrade_history()
        with self._lock():
            self._ensure_decisions(self.path)
            con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            try:
                con.execute("BEGIN IMMEDIATE")
                current = self._current_version(con, str(row["parcel_id"]))
                self._check_version(str(row["parcel_id"]), current, row["based_on_version"])
                decided_at = pd.Timestamp(row["decided_at"]).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                values = [
                    None if pd.isna(row[f]) else str(row[f])
                    for f in ("decision_id", "parcel_id", "route", "sub_route", "note", "decided_by")
                ]
                con.execute(
                    "INSERT INTO decisions (decision_id, parcel_id, route, sub_route, note, decided_by, "
                    "decided_at, based_on_version, rules_version) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        *values,
                        decided_at,
                        str(row["based_on_version"]),
                        None if pd.isna(row["rules_version"]) else str(row["rules_version"]),
                    ),
                )
                if snapshot is not None:  # what the decision was based on (docs/history.md §5), same transaction
                    self._insert(con, history_layer("decision_snapshots"), pd.DataFrame([dict(snapshot)]))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            finally:
                con.close()

    @property
    def files_dir(self) -> Path:
        return self.path.parent

    # -- history counters (docs/history.md) ------------------------------------------------------------
    def history_counts(self) -> dict[str, int]:
        tables = self._tables()
        return {name: tables[name] for name in HISTORY_TABLES if name in tables}

    def next_version_ids(self) -> dict[str, int]:
        tables = self._tables()
        out = {}
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            for name in LEDGER_LAYERS:
                table = f"{name}_versions"
                out[name] = (
                    (con.execute(f'SELECT max(version_id) FROM "{table}"').fetchone()[0] or 0) + 1
                    if table in tables
                    else 1
                )
        return out
