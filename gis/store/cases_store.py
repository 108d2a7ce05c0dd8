"""Disposal cases in the store: append-only tables ``cases``, ``case_events`` and ``attachments``.

Both backends hold the same three tables with the same columns (:data:`TABLES`):

GeoPackage
    Attribute tables (registered in ``gpkg_contents`` as ``attributes``, so QGIS lists them) created on the
    first write; SQLite triggers refuse UPDATE and DELETE.  Rows are appended with SQLite's own transaction
    (``BEGIN IMMEDIATE``) under the store's lock file, so they never race a :meth:`write_layers` copy.
PostGIS
    Tables from revision ``0004_cases``; a statement trigger refuses UPDATE, DELETE and TRUNCATE for every role,
    and the application role is granted SELECT and INSERT only (:func:`grant_sql`).  An append takes a
    transaction-scoped advisory lock on the parcel.

Every append runs a ``check`` callback on the rows already stored (of the parcel for a case, of the case for
an event) inside the same transaction, after the lock: the procedure's order check and the "one open case per
parcel" rule cannot be raced.  ``(case_id, seq)`` is unique as a second guard.  Attachment bytes live in the
store (BLOB / bytea) with their SHA-256, size and type; rows are never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import BYTEA, JSONB

from ..errors import StoreError

__all__ = [
    "TABLES",
    "build_case_metadata",
    "case_metadata",
    "APPEND_ONLY_SQL",
    "DROP_SQL",
    "grant_sql",
    "append_case",
    "append_event",
    "read_cases",
    "read_events",
    "read_attachments",
    "read_attachment_content",
]

#: table -> [(column, type)]; types: text, int, date, timestamp, json, blob
TABLES: dict[str, list[tuple[str, str]]] = {
    "cases": [
        ("case_id", "text"),
        ("parcel_id", "text"),
        ("town_code", "text"),
        ("route", "text"),
        ("sub_route", "text"),
        ("recommended_route", "text"),
        ("recommended_sub_route", "text"),
        ("reason", "text"),
        ("run_id", "text"),
        ("snapshot", "json"),
        ("rules_version", "text"),
        ("opened_by", "text"),
        ("opened_at", "timestamp"),
    ],
    "case_events": [
        ("event_id", "text"),
        ("case_id", "text"),
        ("parcel_id", "text"),
        ("seq", "int"),
        ("event", "text"),
        ("event_date", "date"),
        ("service_date", "date"),
        ("doc_no", "text"),
        ("note", "text"),
        ("data", "json"),
        ("recorded_by", "text"),
        ("role", "text"),
        ("recorded_at", "timestamp"),
    ],
    "attachments": [
        ("attachment_id", "text"),
        ("case_id", "text"),
        ("event_id", "text"),
        ("filename", "text"),
        ("media_type", "text"),
        ("size_bytes", "int"),
        ("sha256", "text"),
        ("content", "blob"),
        ("uploaded_by", "text"),
        ("uploaded_at", "timestamp"),
    ],
}
_KEYS = {"cases": "case_id", "case_events": "event_id", "attachments": "attachment_id"}
_NOT_NULL = {
    "cases": {"case_id", "parcel_id", "route", "sub_route", "opened_by", "opened_at"},
    "case_events": {"event_id", "case_id", "parcel_id", "seq", "event", "event_date", "recorded_by", "recorded_at"},
    "attachments": {
        "attachment_id",
        "case_id",
        "event_id",
        "filename",
        "size_bytes",
        "sha256",
        "content",
        "uploaded_by",
        "uploaded_at",
    },
}
_LABELS = {"cases": "处置案件", "case_events": "处置事项", "attachments": "案件附件"}
_CASE_LOCK_SPACE = 0x4C43  # "LC": advisory locks per parcel for cases and their events
_META_COLUMNS = [c for c, _ in TABLES["attachments"] if c != "content"]

# -- PostGIS schema --------------------------------------------------------------------------------------
_SA_TYPES = {
    "text": sa.Text,
    "int": sa.BigInteger,
    "date": sa.Date,
    "timestamp": lambda: sa.TIMESTAMP(timezone=True),
    "json": JSONB,
    "blob": BYTEA,
}


def build_case_metadata(md: sa.MetaData | None = None) -> sa.MetaData:
    """The three case tables (with a hidden ``fid`` insertion order, as the layer tables)."""
    md = md if md is not None else sa.MetaData()
    for name, cols in TABLES.items():
        items: list[Any] = [
            sa.Column(
                "fid", sa.BigInteger, sa.Identity(always=False), nullable=False, unique=True, comment="insertion order"
            )
        ]
        items += [sa.Column(c, _SA_TYPES[t](), nullable=c not in _NOT_NULL[name]) for c, t in cols]
        items.append(sa.PrimaryKeyConstraint(_KEYS[name], name=f"pk_{name}"))
        if name == "case_events":
            items.append(sa.UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"))
            items.append(sa.Index("ix_case_events_case_id", "case_id"))
        if name == "cases":
            items.append(sa.Index("ix_cases_parcel_id", "parcel_id"))
        sa.Table(name, md, *items, comment=_LABELS[name])
    return md


case_metadata = build_case_metadata()

APPEND_ONLY_SQL = """
CREATE FUNCTION landrenew_cases_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '处置案件、事项和附件只能追加，不能修改或删除 (% on % refused)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = '如需更正，请追加一个新事项（例如 其他方式结案 / 重新开启）';
END $$;
""" + "".join(
    f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} "
    "FOR EACH STATEMENT EXECUTE FUNCTION landrenew_cases_append_only();\n"
    for t in TABLES
)
DROP_SQL = "DROP FUNCTION IF EXISTS landrenew_cases_append_only() CASCADE"


def grant_sql(cur, ident) -> None:
    """Grant the application role ``ident`` SELECT and INSERT (no UPDATE/DELETE) on the case tables."""
    from psycopg import sql

    tables = sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(tables, ident))
    cur.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(tables, ident))


# -- GeoPackage schema -----------------------------------------------------------------------------------
_GPKG_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "date": "DATE",
    "timestamp": "DATETIME",
    "json": "TEXT",
    "blob": "BLOB",
}


def _gpkg_ddl() -> str:
    out = []
    for name, cols in TABLES.items():
        defs = ["fid INTEGER PRIMARY KEY AUTOINCREMENT"]
        for c, t in cols:
            nn = " NOT NULL" if c in _NOT_NULL[name] else ""
            uq = " UNIQUE" if c == _KEYS[name] else ""
            defs.append(f'"{c}" {_GPKG_TYPES[t]}{nn}{uq}')
        if name == "case_events":
            defs.append("UNIQUE (case_id, seq)")
        out.append(f'CREATE TABLE IF NOT EXISTS "{name}" ({", ".join(defs)});')
        out.append(f"""INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, last_change)
            VALUES ('{name}', 'attributes', '{name}', '{_LABELS[name]}', strftime('%Y-%m-%dT%H:%M:%fZ','now'));""")
        for op in ("UPDATE", "DELETE"):
            out.append(
                f'CREATE TRIGGER IF NOT EXISTS {name}_no_{op.lower()} BEFORE {op} ON "{name}" BEGIN '
                f"SELECT RAISE(ABORT, '处置案件、事项和附件只能追加 ({name} is append-only)'); END;"
            )
    out.append("CREATE INDEX IF NOT EXISTS ix_cases_parcel_id ON cases (parcel_id);")
    out.append("CREATE INDEX IF NOT EXISTS ix_case_events_case_id ON case_events (case_id);")
    return "\n".join(out)


def _is_postgis(store) -> bool:
    return hasattr(store, "engine")


def _gpkg_has_tables(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='cases'").fetchone()[0] > 0


# -- values ------------------------------------------------------------------------------------------------
def _db_value(value: Any, typ: str, *, gpkg: bool) -> Any:
    if value is None or (not isinstance(value, (bytes, dict, list, str)) and pd.isna(value)):
        return None
    if typ == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if typ == "date":
        d = pd.Timestamp(value).date()
        return d.isoformat() if gpkg else d
    if typ == "timestamp":
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if gpkg else ts.to_pydatetime()
    if typ == "int":
        return int(value)
    if typ == "blob":
        return bytes(value)
    return str(value)


def _conform(frame: pd.DataFrame, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Canonical in-memory types, the same for both stores: dates datetime64, timestamps UTC, ints Int64,
    json decoded (dict/None), text object with None."""
    types = dict(TABLES[name])
    columns = list(columns or [c for c, _ in TABLES[name]])
    frame = frame.reindex(columns=columns)
    out = {}
    for c in columns:
        s, t = frame[c], types[c]
        if t == "date":
            out[c] = (
                pd.to_datetime(s, format="mixed").astype("datetime64[ms]") if len(s) else s.astype("datetime64[ms]")
            )
        elif t == "timestamp":
            out[c] = (
                pd.to_datetime(s, utc=True, format="mixed").astype("datetime64[ms, UTC]")
                if len(s)
                else s.astype("datetime64[ms, UTC]")
            )
        elif t == "int":
            out[c] = pd.array(s, dtype="Int64")
        elif t == "json":
            out[c] = pd.Series([json.loads(v) if isinstance(v, str) else v for v in s], index=frame.index, dtype=object)
        elif t == "blob":
            out[c] = pd.Series([None if v is None else bytes(v) for v in s], index=frame.index, dtype=object)
        else:
            out[c] = pd.Series(
                [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in s],
                index=frame.index,
                dtype=object,
            )
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


# -- writing -------------------------------------------------------------------------------------------------
def _insert_sql(name: str, row: Mapping[str, Any], *, gpkg: bool) -> tuple[str, list]:
    cols = [c for c, _ in TABLES[name]]
    ph = "?" if gpkg else "%s"
    values = [_db_value(row.get(c), t, gpkg=gpkg) for c, t in TABLES[name]]
    return f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))})", values


def _gpkg_select(con: sqlite3.Connection, name: str, column: str, value: str) -> pd.DataFrame:
    cols = [c for c, _ in TABLES[name]]
    rows = con.execute(f'SELECT {", ".join(cols)} FROM {name} WHERE "{column}" = ? ORDER BY fid', (value,)).fetchall()
    return _conform(pd.DataFrame(rows, columns=cols), name)


def _pg_select(cur, name: str, column: str, value: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    cols = list(columns or [c for c, _ in TABLES[name]])
    rows = cur.execute(f'SELECT {", ".join(cols)} FROM {name} WHERE "{column}" = %s ORDER BY fid', (value,)).fetchall()
    return _conform(pd.DataFrame(rows, columns=cols), name, cols)


def _append(
    store,
    parcel_id: str,
    rows: Sequence[tuple[str, Mapping[str, Any]]],
    check: Callable[[Any], None] | None,
    scope: tuple[str, str, str],
) -> None:
    """Insert ``rows`` [(table, row)] in one transaction after ``check(existing rows of scope)``."""
    table, column, value = scope
    if _is_postgis(store):
        import psycopg

        try:
            with store._cursor(write=True) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_CASE_LOCK_SPACE, parcel_id))
                if check is not None:
                    check(_pg_select(cur, table, column, value))
                for name, row in rows:
                    cur.execute(*_insert_sql(name, row, gpkg=False))
        except (psycopg.Error, sa.exc.DBAPIError) as exc:
            from .postgis import _db_message

            raise StoreError(
                f"保存处置案件失败，本次保存未生效：{_db_message(exc)}",
                detail=str(exc),
                fix="刷新后重试；权限不足请联系管理员",
            ) from exc
        return
    if not store.path.exists():
        raise StoreError("存储为空，尚无研判结果，不能立案", fix="先运行 landrenew assess")
    with store._lock():
        con = sqlite3.connect(store.path, isolation_level=None, timeout=30)
        try:
            con.execute("BEGIN IMMEDIATE")
            if not _gpkg_has_tables(con):
                for statement in _gpkg_ddl().split(";\n"):
                    if statement.strip():
                        con.execute(statement)
            if check is not None:
                check(_gpkg_select(con, table, column, value))
            for name, row in rows:
                con.execute(*_insert_sql(name, row, gpkg=True))
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise StoreError(f"保存处置案件失败，本次保存未生效：{exc}", detail=str(exc), fix="刷新后重试") from exc
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()


def append_case(store, case: Mapping[str, Any], *, check: Callable[[pd.DataFrame], None] | None = None) -> None:
    """Append one case; ``check(cases of the parcel)`` may refuse it (raise) inside the transaction."""
    _append(store, str(case["parcel_id"]), [("cases", case)], check, ("cases", "parcel_id", str(case["parcel_id"])))


def append_event(
    store,
    event: Mapping[str, Any],
    attachments: Sequence[Mapping[str, Any]] = (),
    *,
    check: Callable[[pd.DataFrame], None] | None = None,
) -> None:
    """Append one event and its attachments; ``check(events of the case)`` may refuse it inside the transaction."""
    rows = [("case_events", event), *(("attachments", a) for a in attachments)]
    _append(store, str(event["parcel_id"]), rows, check, ("case_events", "case_id", str(event["case_id"])))


# -- reading --------------------------------------------------------------------------------------------------
def _read(store, name: str, where: Mapping[str, Any] | None, columns: Sequence[str] | None = None) -> pd.DataFrame:
    cols = list(columns or [c for c, _ in TABLES[name]])
    conds = []
    for field, value in (where or {}).items():
        if field not in dict(TABLES[name]):
            raise KeyError(f"{name} has no column {field!r}")
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        if not values:
            return _conform(pd.DataFrame(columns=cols), name, cols)
        conds.append((field, [str(v) for v in values]))
    if _is_postgis(store):
        clause = " AND ".join(f'"{f}" = ANY(%s)' for f, _ in conds)
        query = f"SELECT {', '.join(cols)} FROM {name}{' WHERE ' + clause if conds else ''} ORDER BY fid"
        with store._cursor(write=False) as cur:
            rows = cur.execute(query, [v for _, v in conds]).fetchall()
        return _conform(pd.DataFrame(rows, columns=cols), name, cols)
    if not store.path.exists():
        return _conform(pd.DataFrame(columns=cols), name, cols)
    with contextlib.closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)) as con:
        if not _gpkg_has_tables(con):
            return _conform(pd.DataFrame(columns=cols), name, cols)
        clause = " AND ".join(f'"{f}" IN ({", ".join("?" * len(v))})' for f, v in conds)
        query = f"SELECT {', '.join(cols)} FROM {name}{' WHERE ' + clause if conds else ''} ORDER BY fid"
        rows = con.execute(query, [x for _, v in conds for x in v]).fetchall()
    return _conform(pd.DataFrame(rows, columns=cols), name, cols)


def read_cases(store, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The cases (insertion order)."""
    return _read(store, "cases", where)


def read_events(store, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The case events (insertion order)."""
    return _read(store, "case_events", where)


def read_attachments(store, *, where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The attachments' metadata (no bytes)."""
    return _read(store, "attachments", where, _META_COLUMNS)


def read_attachment_content(store, attachment_id: str) -> bytes:
    """The stored bytes of one attachment."""
    frame = _read(store, "attachments", {"attachment_id": attachment_id}, ["attachment_id", "content"])
    if frame.empty:
        raise StoreError(
            f"找不到附件 {attachment_id}",
            detail=f"no attachment {attachment_id!r}",
            fix="用 landrenew case show 查看案件的附件编号",
        )
    return frame["content"].iloc[0]
