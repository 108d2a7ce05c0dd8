"""The central store: PostGIS through SQLAlchemy 2 + geoalchemy2 (tables from :mod:`gis.store.models`).

Same interface, semantics and in-memory types as :class:`gis.store.gpkg.GeoPackageStore`; callers change
nothing but the URL (``--store postgresql://…`` or ``DATABASE_URL``).

Transactions
    :meth:`PostGISStore.write_layers` runs in ONE transaction: each replaced layer is emptied with ``DELETE``
    and refilled with ``COPY`` (CSV written by Arrow; lists as JSON, geometry as hex EWKB), appended layers get
    ``COPY`` only.  Reads are ``COPY ... TO STDOUT`` (CSV) for the fields plus one binary ``ST_AsBinary`` query
    for the geometries, in one REPEATABLE READ snapshot, in the order rows were written.  ``DELETE``
    rather than ``TRUNCATE``: readers keep seeing the old rows (MVCC) until the commit instead of waiting on
    TRUNCATE's ACCESS EXCLUSIVE lock, and the application role needs no TRUNCATE privilege.
Audit trail
    The application connects with a least-privileged role (:func:`grant_app_role`: SELECT everywhere,
    INSERT + DELETE on layers, INSERT only on ``decisions``, no UPDATE anywhere, no DDL); migrations run as the
    owner (:func:`upgrade`).  A trigger also refuses UPDATE, DELETE and TRUNCATE of ``decisions`` for every
    role, the owner included.
Concurrency
    :meth:`PostGISStore.append_decision` takes a transaction-scoped advisory lock on the parcel (and a shared
    lock that a replacement of ``idle_assessment`` takes exclusively), then reads the current version, compares
    and inserts: of two planners racing on one parcel exactly one succeeds, the other gets
    :class:`gis.errors.ConflictError`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
import sqlalchemy as sa
from psycopg import sql

from ..crs import STORE_CRS
from ..errors import StoreError
from ..frames import conform, decode_lists, empty_frame, encode_lists
from ..redact import mask_url
from ..schema import Layer, get_layer, layer_names
from . import migrations
from .account_tables import EVENTS_TABLE
from .base import Store, assessment_version, decision_version
from .history_schema import HISTORY_TABLES, LEDGER_LAYERS, history_layer
from .models import GEOMETRY_COLUMN, META_TABLE, ORDER_COLUMN, SRID, metadata
from .postgis_history import PostGISHistory, grant_history

__all__ = [
    "PostGISStore",
    "normalize_url",
    "create_engine",
    "upgrade",
    "downgrade",
    "grant_app_role",
    "schema_revision",
]

#: advisory lock keys: a bigint for "idle_assessment is being replaced", (int, hashtext(parcel)) per parcel
_ASSESSMENT_LOCK = 0x6C616E6472656E  # "landren"
_PARCEL_LOCK_SPACE = 0x4C52  # "LR"

_DECISION_FIELDS = (
    "decision_id",
    "parcel_id",
    "route",
    "sub_route",
    "note",
    "decided_by",
    "decided_at",
    "based_on_version",
    "rules_version",
)


def normalize_url(url: str) -> str:
    """``postgres://`` / ``postgresql://`` / ``postgresql+<driver>://`` -> ``postgresql+psycopg://``."""
    url = str(url)
    m = re.match(r"^(postgres|postgresql)(\+[a-z0-9_]+)?://", url)
    if not m:
        raise StoreError(
            f"不是 PostgreSQL 地址：{mask_url(url)}",
            detail=f"not a postgresql:// URL: {mask_url(url)!r}",
            fix="使用 postgresql://用户:密码@主机:端口/数据库",
        )
    return "postgresql+psycopg://" + url[m.end() :]


def create_engine(url: str, **kwargs: Any) -> sa.engine.Engine:
    """An engine on the psycopg 3 driver whose sessions speak UTC, ISO dates and UTF-8."""
    connect_args = {
        "options": "-c TimeZone=UTC -c DateStyle=ISO,YMD",
        "client_encoding": "utf8",
        "application_name": "landrenew",
    }
    connect_args.update(kwargs.pop("connect_args", {}))
    return sa.create_engine(normalize_url(url), pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _masked(url: str) -> str:
    return mask_url(url)


def _db_message(exc: BaseException) -> str:
    diag = getattr(getattr(exc, "orig", exc), "diag", None)
    primary = getattr(diag, "message_primary", None)
    return primary or str(exc).splitlines()[0]


# -- schema management (run as the owner) ------------------------------------------------------
def schema_revision(url_or_engine: str | sa.engine.Engine) -> str | None:
    """The migration revision of the database (None: no landrenew schema yet)."""
    engine = url_or_engine if isinstance(url_or_engine, sa.engine.Engine) else create_engine(url_or_engine)
    return migrations.current_revision(engine)


def upgrade(url_or_engine: str | sa.engine.Engine, revision: str = "head") -> str | None:
    """Create or upgrade the schema (as the owner role); returns the new revision."""
    engine = url_or_engine if isinstance(url_or_engine, sa.engine.Engine) else create_engine(url_or_engine)
    try:
        migrations.upgrade(engine, revision)
    except sa.exc.DBAPIError as exc:
        raise StoreError(
            f"数据库结构升级失败：{_db_message(exc)}",
            detail=str(exc),
            fix="用数据库所有者账号运行 landrenew db upgrade；首次需由管理员执行 CREATE EXTENSION postgis",
        ) from exc
    return migrations.current_revision(engine)


def downgrade(url_or_engine: str | sa.engine.Engine, revision: str = "base") -> str | None:
    """Downgrade the schema; ``"base"`` drops every landrenew table and its data."""
    engine = url_or_engine if isinstance(url_or_engine, sa.engine.Engine) else create_engine(url_or_engine)
    migrations.downgrade(engine, revision)
    return migrations.current_revision(engine)


def grant_app_role(url_or_engine: str | sa.engine.Engine, role: str, *, password: str | None = None) -> None:
    """Create (when ``password`` is given and it does not exist) and grant the application's role.

    Privileges: CONNECT, USAGE on schema ``public``; SELECT on every landrenew table; INSERT and DELETE on the
    layers, ``store_meta`` and ``users`` (a replaced layer or user is deleted and re-inserted); INSERT only on
    ``decisions`` and ``login_events``.
    No UPDATE, no TRUNCATE, no DDL.  Idempotent: run it again after each ``upgrade``.  Run as the owner (who
    also needs CREATEROLE to create the role).
    """
    engine = url_or_engine if isinstance(url_or_engine, sa.engine.Engine) else create_engine(url_or_engine)
    ident = sql.Identifier(role)
    writable = [t for t in metadata.tables if t not in ("decisions", EVENTS_TABLE) and t not in HISTORY_TABLES]
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        if cur.execute("SELECT current_user = %s", (role,)).fetchone()[0]:
            raise StoreError(f"应用账号 {role} 不能是数据库所有者本身", fix="另建一个专用账号，例如 landrenew_app")
        exists = cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if password is not None:
            verb = "ALTER" if exists else "CREATE"
            cur.execute(
                sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    ident, sql.Literal(password)
                )
            )
        elif not exists:
            raise StoreError(f"数据库账号 {role} 不存在", fix="加 --password 创建它，或请管理员先创建该账号")
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in (*metadata.tables, "alembic_version"))
        cur.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(cur.execute("SELECT current_database()").fetchone()[0]), ident
            )
        )
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(tables, ident))
        cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, ident))
        cur.execute(
            sql.SQL("GRANT INSERT, DELETE ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in writable), ident
            )
        )
        cur.execute(sql.SQL("GRANT INSERT ON decisions TO {}").format(ident))
        grant_history(cur, ident)  # history: INSERT + SELECT, UPDATE of the supersession columns only
        cur.execute(sql.SQL("GRANT INSERT ON {} TO {}").format(sql.Identifier(EVENTS_TABLE), ident))  # audit
        from .cases_store import grant_sql as grant_case_tables  # cases: SELECT + INSERT only (append-only)

        grant_case_tables(cur, ident)
        cur.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident))


# -- frames <-> COPY CSV -------------------------------------------------------------------------
def _columns(layer: Layer) -> list[str]:
    return [*layer.field_names, *([GEOMETRY_COLUMN] if layer.is_spatial else [])]


def _to_multipolygons(geoms: np.ndarray) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    single = shapely.get_type_id(geoms) == 3  # Polygon -> MultiPolygon, as GeoPackage promote_to_multi
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    return geoms


def _frame_to_csv(frame: pd.DataFrame, layer: Layer) -> bytes:
    """A conformed frame as COPY CSV text: NULL = empty unquoted field, lists JSON, geometry hex EWKB."""
    frame = encode_lists(conform(frame, layer), layer)
    out: dict[str, pd.Series] = {}
    for f in layer.fields:
        s = frame[f.name]
        if f.type == "date":
            s = s.dt.strftime("%Y-%m-%d")
        elif f.type == "timestamp":
            s = s.dt.strftime("%Y-%m-%d %H:%M:%S.%f+00")
        out[f.name] = s
    if layer.is_spatial:
        geoms = _to_multipolygons(frame.geometry.array)
        geoms = shapely.set_srid(geoms, SRID)
        out[GEOMETRY_COLUMN] = pd.Series(
            shapely.to_wkb(geoms, hex=True, include_srid=True), index=frame.index, dtype=object
        )
    table = pa.Table.from_pandas(pd.DataFrame(out, index=frame.index), preserve_index=False)
    buf = io.BytesIO()  # Arrow's writer: NULL = empty unquoted, strings quoted, floats shortest round-trip
    pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buf.getvalue()


def _csv_to_frame(data: bytes, layer: Layer, wkb: list | None = None) -> pd.DataFrame:
    """COPY CSV output of the fields (+ the geometries as WKB) -> the canonical frame (what ``conform`` returns)."""
    cols = layer.field_names
    if not data:
        return empty_frame(layer)
    dtypes: dict[str, Any] = {}
    for f in layer.fields:
        dtypes[f.name] = {
            "int": "Int64",
            "float": "float64",
            "ratio": "float64",
            "str": "string",
            "enum": "string",
        }.get(f.type, object)
    raw = pd.read_csv(
        io.BytesIO(data), header=None, names=cols, dtype=dtypes, keep_default_na=False, na_values=[""], encoding="utf-8"
    )
    for f in layer.fields:
        if f.type == "bool":
            raw[f.name] = raw[f.name].map({"t": True, "f": False}).astype("boolean")
        elif f.type == "date":
            raw[f.name] = pd.to_datetime(raw[f.name], format="%Y-%m-%d")
        elif f.type == "timestamp":
            raw[f.name] = pd.to_datetime(raw[f.name], format="ISO8601", utc=True)
    raw = decode_lists(raw, layer)
    if layer.is_spatial:
        blobs = np.empty(len(raw), dtype=object)
        blobs[:] = wkb if wkb is not None else [None] * len(raw)
        geoms = shapely.from_wkb(blobs)  # plain WKB (ST_AsBinary): no SRID, like geometries read by pyogrio
        raw = gpd.GeoDataFrame(raw, geometry=gpd.GeoSeries(geoms, index=raw.index, crs=STORE_CRS))
    return conform(raw, layer).reset_index(drop=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


class PostGISStore(PostGISHistory, Store):
    """A PostGIS database as the store.

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/db`` (also ``postgres://`` and ``postgresql+psycopg://``).
    engine
        An existing SQLAlchemy engine to use instead of creating one from ``url``.

    An empty database (no landrenew schema) is migrated on first use when the role may create tables;
    otherwise the store asks for ``landrenew db upgrade`` run by the owner.
    """

    def __init__(self, url: str, *, engine: sa.engine.Engine | None = None):
        self.url = normalize_url(url)
        self.engine = engine if engine is not None else create_engine(self.url)
        self._schema_ok = False

    def __repr__(self) -> str:
        return f"PostGISStore({_masked(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    # -- plumbing ---------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        if self._schema_ok:
            return
        try:
            current = migrations.current_revision(self.engine)
            head = migrations.head_revision()
            if current is None:
                with self.engine.connect() as conn:
                    may_create = conn.execute(sa.text("SELECT has_schema_privilege('public', 'CREATE')")).scalar()
                if not may_create:
                    raise StoreError(
                        "数据库尚未建立平台表结构",
                        detail=f"no landrenew schema in {_masked(self.url)}",
                        fix="请数据库所有者运行 landrenew db upgrade --store <所有者地址>",
                    )
                upgrade(self.engine)
            elif current != head:
                raise StoreError(
                    f"数据库表结构版本 {current} 与程序版本 {head} 不一致",
                    detail=f"schema at {current}, code expects {head}",
                    fix="请数据库所有者运行 landrenew db upgrade",
                )
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"无法连接数据库：{mask_url(_db_message(exc))}",
                detail=mask_url(str(exc)),
                fix="检查 DATABASE_URL / --store 地址、账号密码与网络",
            ) from exc
        self._schema_ok = True

    @contextlib.contextmanager
    def _cursor(self, *, write: bool) -> Iterator[psycopg.Cursor]:
        """A psycopg cursor inside one SQLAlchemy transaction (committed on success when ``write``)."""
        self._ensure_schema()
        ctx = (
            self.engine.begin() if write else self.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        )
        with ctx as conn:
            with conn.connection.driver_connection.cursor() as cur:
                yield cur

    # -- reading ----------------------------------------------------------------------------
    def layer_counts(self) -> dict[str, int]:
        """Row counts of the layers holding rows (empty tables count as absent, as every table exists)."""
        names = layer_names()
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(n), sql.Identifier(n)) for n in names
        )
        with self._cursor(write=False) as cur:
            counts = dict(cur.execute(query).fetchall())
        return {n: int(counts[n]) for n in names if counts.get(n)}

    def read_layer(self, name: str, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        layer = get_layer(name)
        conditions = []
        for field, value in (where or {}).items():
            ftype = layer.field(field).type  # validates the name
            as_sql = (lambda v: str(v)) if ftype in ("str", "enum") else _plain  # compare text with text
            if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
                values = [as_sql(v) for v in value]
                if not values:
                    return empty_frame(layer)
                conditions.append(
                    sql.SQL("{} IN ({})").format(
                        sql.Identifier(field), sql.SQL(", ").join(sql.Literal(v) for v in values)
                    )
                )
            else:
                conditions.append(sql.SQL("{} = {}").format(sql.Identifier(field), sql.Literal(as_sql(value))))
        return self._read_rows(name, layer, conditions, what=f"图层 {name} ", fix="检查数据库账号是否有读取权限")

    def _read_rows(self, table: str, layer: Layer, conditions: list, *, what: str, fix: str) -> pd.DataFrame:
        """The rows of ``table`` matching ``conditions`` (``sql.Composable``, joined with AND) in insertion order,
        as ``layer``'s frame: attributes as COPY CSV (fast to parse), geometries as binary WKB, both from one
        snapshot.  Used by the layers and the history tables alike."""
        parts = {
            "table": sql.Identifier(table),
            "order": sql.Identifier(ORDER_COLUMN),
            "where": sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL(""),
        }
        attrs = sql.SQL("COPY (SELECT {cols} FROM {table}{where} ORDER BY {order}) TO STDOUT (FORMAT csv)").format(
            cols=sql.SQL(", ").join(sql.Identifier(f) for f in layer.field_names), **parts
        )
        geoms = sql.SQL("SELECT ST_AsBinary({geom}) FROM {table}{where} ORDER BY {order}").format(
            geom=sql.Identifier(GEOMETRY_COLUMN), **parts
        )
        wkb = None
        try:
            with self._cursor(write=False) as cur:
                buf = io.BytesIO()
                with cur.copy(attrs) as copy:
                    while block := copy.read():
                        buf.write(block)
                if layer.is_spatial:
                    wkb = [row[0] for row in cur.execute(geoms, binary=True).fetchall()]
        except psycopg.Error as exc:
            raise StoreError(f"读取{what}失败：{_db_message(exc)}", detail=f"reading {table}: {exc}", fix=fix) from exc
        return _csv_to_frame(buf.getvalue(), layer, wkb)

    def meta(self) -> dict[str, str]:
        with self._cursor(write=False) as cur:
            return dict(cur.execute(sql.SQL("SELECT key, value FROM {}").format(sql.Identifier(META_TABLE))).fetchall())

    # -- writing ----------------------------------------------------------------------------
    def _copy_frame(self, cur: psycopg.Cursor, name: str, frame: pd.DataFrame) -> None:
        """COPY the rows of one layer or history table (the step the fault-injection tests break)."""
        layer = history_layer(name) if name in HISTORY_TABLES else get_layer(name)
        if not len(frame):
            return
        payload = _frame_to_csv(frame, layer)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(c) for c in _columns(layer))
        )
        with cur.copy(statement) as copy:
            view = memoryview(payload)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])

    def _write_meta(self, cur: psycopg.Cursor, meta: Mapping[str, str]) -> None:
        items = [(str(k), str(v)) for k, v in meta.items()]
        table = sql.Identifier(META_TABLE)
        cur.execute(sql.SQL("DELETE FROM {} WHERE key = ANY(%s)").format(table), ([k for k, _ in items],))
        cur.executemany(sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s)").format(table), items)

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
        current = "store_meta"
        try:
            with self._cursor(write=True) as cur:
                if "idle_assessment" in frames:  # wait for decisions in flight; hold them off until commit
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ASSESSMENT_LOCK,))
                for name, frame in frames.items():
                    current = name
                    if name not in append:
                        cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(name)))
                    self._copy_frame(cur, name, frame)
                current = "store_meta"
                if meta:
                    self._write_meta(cur, meta)
        except (psycopg.Error, sa.exc.DBAPIError) as exc:
            hint = {
                psycopg.errors.InsufficientPrivilege: "数据库账号无写入权限，请联系管理员（landrenew db grant-app-role）",
                psycopg.errors.UniqueViolation: "记录编号重复：检查源数据或改用替换导入",
                psycopg.errors.CheckViolation: "字段取值不在允许范围内（见 layers/ 中的取值表）",
                psycopg.errors.NotNullViolation: "必填字段为空",
            }
            orig = getattr(exc, "orig", exc)
            raise StoreError(
                f"写入图层 {current} 失败，本次写入未生效：{_db_message(exc)}",
                detail=f"writing {current} to {_masked(self.url)}: {orig}",
                fix=hint.get(type(orig), "检查数据后重试"),
            ) from exc

    # -- decisions --------------------------------------------------------------------------
    @staticmethod
    def _current_version(cur: psycopg.Cursor, parcel_id: str) -> str | None:
        row = cur.execute(
            f"SELECT decision_id FROM decisions WHERE parcel_id = %s ORDER BY decided_at DESC, {ORDER_COLUMN} DESC "
            "LIMIT 1",
            (parcel_id,),
        ).fetchone()
        if row:
            return decision_version(row[0])
        row = cur.execute(
            "SELECT as_of, rules_version, route, sub_route FROM idle_assessment WHERE parcel_id = %s", (parcel_id,)
        ).fetchone()
        if row:
            return assessment_version(*row)
        return None

    def current_version(self, parcel_id: str) -> str | None:
        with self._cursor(write=False) as cur:
            return self._current_version(cur, str(parcel_id))

    def _insert_decision(self, cur: psycopg.Cursor, values: dict[str, Any]) -> None:
        cur.execute(
            f"INSERT INTO decisions ({', '.join(_DECISION_FIELDS)}) VALUES ({', '.join(['%s'] * len(_DECISION_FIELDS))})",
            [values[f] for f in _DECISION_FIELDS],
        )

    def append_decision(self, decision: Mapping[str, Any], snapshot: Mapping[str, Any] | None = None) -> None:
        row = conform(pd.DataFrame([dict(decision)]), "decisions").iloc[0]
        values = {f: None if pd.isna(row[f]) else _plain(row[f]) for f in _DECISION_FIELDS}
        parcel_id = str(values["parcel_id"])
        try:
            with self._cursor(write=True) as cur:
                cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_ASSESSMENT_LOCK,))
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_PARCEL_LOCK_SPACE, parcel_id))
                current = self._current_version(cur, parcel_id)  # a fresh snapshot, taken after the locks
                self._check_version(parcel_id, current, row["based_on_version"])
                self._insert_decision(cur, values)
                if snapshot is not None:  # what the decision was based on (docs/history.md §5), same transaction
                    self._copy_frame(cur, "decision_snapshots", pd.DataFrame([dict(snapshot)]))
        except (psycopg.Error, sa.exc.DBAPIError) as exc:
            orig = getattr(exc, "orig", exc)
            raise StoreError(
                f"保存审定记录失败，本次保存未生效：{_db_message(exc)}",
                detail=f"appending decision for {parcel_id}: {orig}",
                fix="审定编号重复时请重新提交；权限不足请联系管理员",
            ) from exc

    # -- files ------------------------------------------------------------------------------
    @property
    def files_dir(self) -> Path:
        """``$LANDRENEW_FILES``, else ``var/`` under the working directory (rejects reports, rasters)."""
        return Path(os.environ.get("LANDRENEW_FILES") or "var").resolve()
