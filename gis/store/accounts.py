"""Users and login events in the store itself (GeoPackage or PostGIS), so every app server and every
``landrenew users`` run on one store sees the same accounts.

Storage only — the rules (password policy, hashing, lockout) are in :mod:`gis.accounts` and
:mod:`gis.login_guard`.  Rows are plain dicts:

* user: ``name, role, password_hash, disabled, created_at, updated_at``
* event: ``at, user_name, client, outcome``

GeoPackage
    Two plain SQLite tables beside the layers (not registered in ``gpkg_contents``: GIS tools do not list
    them).  Every write takes the store's lock (the one ``write_layers`` holds while it copies and replaces
    the file) and runs in one SQLite transaction, so neither a concurrent layer write nor a concurrent user
    write can lose it.  Triggers make ``login_events`` append-only.
PostGIS
    The tables of :mod:`gis.store.account_tables` (migration ``0002_users``).  A change of a user is a
    DELETE + INSERT in one transaction under an advisory lock (the app role has no UPDATE privilege);
    ``login_events`` is INSERT only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import LandRenewError, StoreError
from .account_tables import EVENTS_TABLE, OUTCOMES, ROLE_VALUES, USERS_TABLE

__all__ = [
    "USER_FIELDS",
    "EVENT_FIELDS",
    "get_user",
    "list_users",
    "insert_user",
    "replace_user",
    "delete_user",
    "append_login_event",
    "login_events",
    "has_users",
    "import_user_rows",
]

USER_FIELDS = ("name", "role", "password_hash", "disabled", "created_at", "updated_at")
EVENT_FIELDS = ("at", "user_name", "client", "outcome")
_USERS_LOCK = 0x7573657273  # "users": serialises user writes on PostGIS

_GPKG_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {USERS_TABLE} (
    name TEXT NOT NULL PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ({", ".join(repr(r) for r in ROLE_VALUES)})),
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2%'),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user_name TEXT NOT NULL,
    client TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ({", ".join(repr(o) for o in OUTCOMES)}))
);
CREATE INDEX IF NOT EXISTS ix_login_events_user_at ON {EVENTS_TABLE} (user_name, at);
CREATE INDEX IF NOT EXISTS ix_login_events_client_at ON {EVENTS_TABLE} (client, at);
CREATE TRIGGER IF NOT EXISTS login_events_no_update BEFORE UPDATE ON {EVENTS_TABLE}
BEGIN SELECT RAISE(ABORT, '登录审计只能追加，不能修改 (login_events are append-only)'); END;
CREATE TRIGGER IF NOT EXISTS login_events_no_delete BEFORE DELETE ON {EVENTS_TABLE}
BEGIN SELECT RAISE(ABORT, '登录审计只能追加，不能删除 (login_events are append-only)'); END;
"""


def _utc(value: dt.datetime | None) -> dt.datetime:
    value = value or dt.datetime.now(dt.UTC)
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value.astimezone(dt.UTC)


def _iso(value: dt.datetime) -> str:  # fixed width: text order is time order
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _is_postgis(store) -> bool:
    return hasattr(store, "engine")


# -- GeoPackage -----------------------------------------------------------------------------------
def _gpkg_ready(store) -> None:
    """Create the tables when missing (the store's lock is held; the file exists)."""
    with contextlib.closing(sqlite3.connect(store.path, timeout=30)) as con:
        if (
            not con.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{EVENTS_TABLE}' AND type = 'table'").fetchone()
            or not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'login_events_no_delete'").fetchone()
        ):
            con.executescript(_GPKG_SCHEMA)
            con.commit()


@contextlib.contextmanager
def _gpkg_write(store) -> Iterator[sqlite3.Connection]:
    if not store.path.exists():  # an empty GeoPackage first (write_layers takes the lock itself)
        store.write_layers({})
    with store._lock():
        _gpkg_ready(store)
        con = sqlite3.connect(store.path, isolation_level=None, timeout=30)
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()


@contextlib.contextmanager
def _gpkg_read(store) -> Iterator[sqlite3.Connection | None]:
    if not store.path.exists():
        yield None
        return
    with contextlib.closing(sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=30)) as con:
        if not con.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{USERS_TABLE}' AND type = 'table'").fetchone():
            yield None
            return
        yield con


def _gpkg_user(row: tuple) -> dict[str, Any]:
    name, role, hashed, disabled, created, updated = row
    return {
        "name": name,
        "role": role,
        "password_hash": hashed,
        "disabled": bool(disabled),
        "created_at": _from_iso(created),
        "updated_at": _from_iso(updated),
    }


# -- PostGIS --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _pg(store, *, write: bool, lock: bool = True):
    import psycopg

    try:
        with store._cursor(write=write) as cur:
            if write and lock:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_USERS_LOCK,))
            yield cur
    except psycopg.errors.UniqueViolation:
        raise
    except psycopg.Error as exc:
        from ..redact import mask_url

        raise StoreError(
            f"读写用户表失败：{exc.diag.message_primary or exc}",
            detail=mask_url(f"accounts on {store.url}: {exc}"),
            fix="检查数据库账号权限（landrenew db grant-app-role）与表结构（landrenew db upgrade）",
        ) from exc


def _pg_user(row: tuple) -> dict[str, Any]:
    name, role, hashed, disabled, created, updated = row
    return {
        "name": name,
        "role": role,
        "password_hash": hashed,
        "disabled": bool(disabled),
        "created_at": _utc(created),
        "updated_at": _utc(updated),
    }


# -- the interface ----------------------------------------------------------------------------------
_SELECT_USERS = f"SELECT {', '.join(USER_FIELDS)} FROM {USERS_TABLE}"


def get_user(store, name: str) -> dict[str, Any] | None:
    """The user row of ``name`` (None when unknown)."""
    if _is_postgis(store):
        with _pg(store, write=False) as cur:
            row = cur.execute(_SELECT_USERS + " WHERE name = %s", (name,)).fetchone()
        return _pg_user(row) if row else None
    with _gpkg_read(store) as con:
        row = con.execute(_SELECT_USERS + " WHERE name = ?", (name,)).fetchone() if con else None
    return _gpkg_user(row) if row else None


def list_users(store) -> list[dict[str, Any]]:
    """All user rows, by name."""
    if _is_postgis(store):
        with _pg(store, write=False) as cur:
            return [_pg_user(r) for r in cur.execute(_SELECT_USERS + " ORDER BY name").fetchall()]
    with _gpkg_read(store) as con:
        rows = con.execute(_SELECT_USERS + " ORDER BY name").fetchall() if con else []
    return [_gpkg_user(r) for r in rows]


def has_users(store) -> bool:
    return bool(list_users(store))


def _values(user: Mapping[str, Any]) -> list[Any]:
    return [
        user["name"],
        user["role"],
        user["password_hash"],
        bool(user.get("disabled", False)),
        _utc(user["created_at"]),
        _utc(user["updated_at"]),
    ]


def _exists_error(name: str) -> LandRenewError:
    return LandRenewError(
        f"用户 {name} 已存在", detail=f"user {name!r} exists", fix="换一个用户名，或加 --replace 重设其密码和角色"
    )


def insert_user(store, user: Mapping[str, Any]) -> None:
    """Add a new user; :class:`LandRenewError` when the name exists (also when two adds race)."""
    if _is_postgis(store):
        import psycopg

        try:
            with _pg(store, write=True) as cur:
                cur.execute(
                    f"INSERT INTO {USERS_TABLE} ({', '.join(USER_FIELDS)}) VALUES (%s,%s,%s,%s,%s,%s)", _values(user)
                )
        except psycopg.errors.UniqueViolation as exc:
            raise _exists_error(user["name"]) from exc
        return
    values = _values(user)
    values[3], values[4], values[5] = int(values[3]), _iso(values[4]), _iso(values[5])
    try:
        with _gpkg_write(store) as con:
            con.execute(f"INSERT INTO {USERS_TABLE} ({', '.join(USER_FIELDS)}) VALUES (?,?,?,?,?,?)", values)
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc) or "PRIMARY" in str(exc):
            raise _exists_error(user["name"]) from exc
        raise StoreError(f"用户 {user['name']} 的记录不合规：{exc}", detail=str(exc), fix="检查角色与口令散列") from exc


def replace_user(store, name: str, change) -> dict[str, Any] | None:
    """Read the user ``name``, apply ``change(row) -> new row`` and write it back, atomically.

    ``change`` sees ``None`` for an unknown name and may return ``None`` to leave the store unchanged.
    Returns the new row.
    """
    if _is_postgis(store):
        with _pg(store, write=True) as cur:
            row = cur.execute(_SELECT_USERS + " WHERE name = %s", (name,)).fetchone()
            new = change(_pg_user(row) if row else None)
            if new is None:
                return None
            cur.execute(f"DELETE FROM {USERS_TABLE} WHERE name = %s", (name,))
            cur.execute(
                f"INSERT INTO {USERS_TABLE} ({', '.join(USER_FIELDS)}) VALUES (%s,%s,%s,%s,%s,%s)", _values(new)
            )
        return new
    with _gpkg_write(store) as con:
        row = con.execute(_SELECT_USERS + " WHERE name = ?", (name,)).fetchone()
        new = change(_gpkg_user(row) if row else None)
        if new is None:
            return None
        values = _values(new)
        values[3], values[4], values[5] = int(values[3]), _iso(values[4]), _iso(values[5])
        con.execute(f"DELETE FROM {USERS_TABLE} WHERE name = ?", (name,))
        con.execute(f"INSERT INTO {USERS_TABLE} ({', '.join(USER_FIELDS)}) VALUES (?,?,?,?,?,?)", values)
    return new


def delete_user(store, name: str) -> bool:
    """Delete a user (its login events stay); whether it existed."""
    if _is_postgis(store):
        with _pg(store, write=True) as cur:
            return cur.execute(f"DELETE FROM {USERS_TABLE} WHERE name = %s", (name,)).rowcount > 0
    with _gpkg_write(store) as con:
        return con.execute(f"DELETE FROM {USERS_TABLE} WHERE name = ?", (name,)).rowcount > 0


def append_login_event(store, *, user_name: str, client: str, outcome: str, at: dt.datetime | None = None) -> None:
    """Record one sign-in attempt (or logout / expiry / password change)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    at = _utc(at)
    row = (at, str(user_name)[:200], str(client)[:200], outcome)
    if _is_postgis(store):
        with _pg(store, write=True, lock=False) as cur:
            cur.execute(f"INSERT INTO {EVENTS_TABLE} ({', '.join(EVENT_FIELDS)}) VALUES (%s,%s,%s,%s)", row)
        return
    with _gpkg_write(store) as con:
        con.execute(f"INSERT INTO {EVENTS_TABLE} ({', '.join(EVENT_FIELDS)}) VALUES (?,?,?,?)", (_iso(at), *row[1:]))


def login_events(
    store,
    *,
    user_name: str | None = None,
    client: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Login events, newest first; filtered by user name, client and/or time (``at >= since``)."""
    conds, args = [], []
    for col, value in (("user_name", user_name), ("client", client)):
        if value is not None:
            conds.append(f"{col} = ?")
            args.append(value)
    if since is not None:
        conds.append("at >= ?")
        args.append(_utc(since))
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    query = f"SELECT {', '.join(EVENT_FIELDS)} FROM {EVENTS_TABLE}{where} ORDER BY at DESC, id DESC"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    if _is_postgis(store):
        with _pg(store, write=False) as cur:
            rows = cur.execute(query.replace("?", "%s"), args).fetchall()
        return [{"at": _utc(r[0]), "user_name": r[1], "client": r[2], "outcome": r[3]} for r in rows]
    with _gpkg_read(store) as con:
        if con is None or not con.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{EVENTS_TABLE}'").fetchone():
            return []
        rows = con.execute(query, [_iso(a) if isinstance(a, dt.datetime) else a for a in args]).fetchall()
    return [{"at": _from_iso(r[0]), "user_name": r[1], "client": r[2], "outcome": r[3]} for r in rows]


def import_user_rows(store, rows: list[Mapping[str, Any]], *, replace: bool) -> tuple[list[str], list[str]]:
    """Write several users in ONE transaction: new names are inserted; existing names are replaced when
    ``replace``, else left as they are.  Returns ``(written, kept_existing)``; all or nothing."""
    names = [r["name"] for r in rows]
    if _is_postgis(store):
        with _pg(store, write=True) as cur:
            existing = {
                r[0] for r in cur.execute(f"SELECT name FROM {USERS_TABLE} WHERE name = ANY(%s)", (names,)).fetchall()
            }
            written = [r for r in rows if replace or r["name"] not in existing]
            cur.execute(f"DELETE FROM {USERS_TABLE} WHERE name = ANY(%s)", ([r["name"] for r in written],))
            cur.executemany(
                f"INSERT INTO {USERS_TABLE} ({', '.join(USER_FIELDS)}) VALUES (%s,%s,%s,%s,%s,%s)",
                [_values(r) for r in written],
            )
    else:
        with _gpkg_write(store) as con:
            existing = {r[0] for r in con.execute(f"SELECT name FROM {USERS_TABLE}").fetchall()}
            written = [r for r in rows if replace or r["name"] not in existing]
            for r in written:
                values = _values(r)
                values[3], values[4], values[5] = int(values[3]), _iso(values[4]), _iso(values[5])
                con.execute(f"DELETE FROM {USERS_TABLE} WHERE name = ?", (r["name"],))
                con.execute(f"INSERT INTO {USERS_TABLE} ({', '.join(USER_FIELDS)}) VALUES (?,?,?,?,?,?)", values)
    return [r["name"] for r in written], [n for n in names if n in existing and not replace]
