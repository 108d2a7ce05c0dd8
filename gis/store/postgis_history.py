"""History (docs/history.md) in the PostGIS store: the same tables as the GeoPackage store (Alembic revision
``0003_history``), written in one transaction with ``COPY`` and one ``UPDATE`` of the superseded versions.

Privileges: the application role may INSERT and SELECT the history tables and UPDATE only
``superseded_at``/``superseded_by``/``row_hash`` of the versions tables (:func:`grant_history`): no history row
is ever deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from psycopg import sql

from ..errors import StoreError
from ..frames import empty_frame
from ..schema import Layer, get_layer
from .history_schema import HISTORY_TABLES, LEDGER_LAYERS, history_layer

__all__ = ["PostGISHistory", "grant_history", "HISTORY_LOCK"]

#: advisory lock serialising batches (version ids are allocated per batch)
HISTORY_LOCK = 0x6869737421  # "hist!"
_UPDATABLE = ("superseded_at", "superseded_by", "row_hash")


def grant_history(cur: psycopg.Cursor, ident: sql.Identifier) -> None:
    """Privileges of the app role on the history tables (run inside :func:`gis.store.postgis.grant_app_role`)."""
    tables = sql.SQL(", ").join(sql.Identifier(t) for t in HISTORY_TABLES)
    cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(tables, ident))
    cur.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(tables, ident))
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in _UPDATABLE)
    for name in LEDGER_LAYERS:
        cur.execute(sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(cols, sql.Identifier(f"{name}_versions"), ident))


def _plain(value: Any, ftype: str) -> Any:
    if value is None:
        return None
    if ftype == "date":
        return pd.Timestamp(value).date()
    if ftype == "timestamp":
        ts = pd.Timestamp(value)
        return (ts.tz_localize("UTC") if ts.tzinfo is None else ts).to_pydatetime()
    if ftype == "bool":
        return bool(value)
    if ftype in ("str", "enum"):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _conditions(layer: Layer, filters: Sequence[tuple[str, str, Any]]) -> list[sql.Composable] | None:
    out = []
    for name, op, value in filters:
        ftype = layer.field(name).type
        op = op.lower()
        ident = sql.Identifier(name)
        if op == "in":
            values = [_plain(v, ftype) for v in value]
            if not values:
                return None
            out.append(sql.SQL("{} = ANY({})").format(ident, sql.Literal(values)))
        elif value is None:
            out.append(sql.SQL("{} IS NULL" if op == "=" else "{} IS NOT NULL").format(ident))
        elif op in ("=", "!=", "<", "<=", ">", ">="):
            out.append(sql.SQL("{} " + op + " {}").format(ident, sql.Literal(_plain(value, ftype))))
        else:
            raise ValueError(f"unsupported operator {op!r}")
    return out


class PostGISHistory:
    """Mixin of :class:`gis.store.postgis.PostGISStore`."""

    def history_version(self) -> str | None:
        from . import migrations

        return migrations.current_revision(self.engine)

    def upgrade_history(self) -> bool:
        """Nothing to do at run time: the schema comes with ``landrenew db upgrade`` (revision 0003_history)."""
        self._ensure_schema()
        return False

    def history_counts(self) -> dict[str, int]:
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(n), sql.Identifier(n)) for n in HISTORY_TABLES
        )
        with self._cursor(write=False) as cur:
            counts = dict(cur.execute(query).fetchall())
        return {n: int(counts[n]) for n in HISTORY_TABLES if counts.get(n)}

    def next_version_ids(self) -> dict[str, int]:
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}, coalesce(max(version_id), 0) + 1 FROM {}").format(
                sql.Literal(n), sql.Identifier(f"{n}_versions")
            )
            for n in LEDGER_LAYERS
        )
        with self._cursor(write=False) as cur:
            return {n: int(v) for n, v in cur.execute(query).fetchall()}

    def read_history(
        self,
        table: str,
        *,
        filters: Sequence[tuple[str, str, Any]] = (),
        columns: Sequence[str] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame:

        full = history_layer(table)
        layer = (
            full
            if columns is None
            else Layer(
                name=full.name,
                label=full.label,
                geometry=full.geometry if geometry else None,
                key=full.key,
                fields=tuple(full.field(c) for c in columns),
            )
        )
        if not geometry and layer.is_spatial:
            layer = Layer(name=layer.name, label=layer.label, geometry=None, key=layer.key, fields=layer.fields)
        conds = _conditions(full, filters)
        if conds is None:
            return empty_frame(layer)
        return self._read_rows(
            table, layer, conds, what=f" {full.label} ", fix="检查数据库账号是否有读取权限，或运行 landrenew db upgrade"
        )

    def history_rows(self, table: str, *, filters: Sequence[tuple[str, str, Any]] = ()) -> list[dict]:
        """A few rows of a history table as plain values (same as the GeoPackage store's)."""
        import shapely

        from .gpkg_history import normalize_row
        from .models import GEOMETRY_COLUMN, ORDER_COLUMN

        layer = history_layer(table)
        conds = _conditions(layer, filters)
        if conds is None:
            return []
        cols = [sql.Identifier(c) for c in layer.field_names]
        if layer.is_spatial:
            cols.append(sql.SQL("ST_AsBinary({})").format(sql.Identifier(GEOMETRY_COLUMN)))
        query = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(
            sql.SQL(", ").join(cols),
            sql.Identifier(table),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds) if conds else sql.SQL(""),
            sql.Identifier(ORDER_COLUMN),
        )
        with self._cursor(write=False) as cur:
            rows = cur.execute(query).fetchall()
        out = []
        for r in rows:
            item = dict(zip(layer.field_names, r))
            if layer.is_spatial:
                blob = r[-1]
                item["geometry"] = None if blob is None else shapely.from_wkb(bytes(blob))
            out.append(normalize_row(layer, item))
        return out

    def write_history(self, tx) -> None:
        """Apply a :class:`gis.store.history_schema.HistoryWrite` in one transaction (all or nothing)."""
        from .postgis import _ASSESSMENT_LOCK, _db_message, _masked

        current = "store_meta"
        try:
            with self._cursor(write=True) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (HISTORY_LOCK,))
                if "idle_assessment" in tx.layer_replace:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_ASSESSMENT_LOCK,))
                for name, frame in tx.layer_replace.items():
                    current = name
                    cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(name)))
                    self._copy_frame(cur, name, frame)
                for name, (keys, frame) in tx.layer_rows.items():
                    current = name
                    key = get_layer(name).key_fields[0]
                    if keys:
                        cur.execute(
                            sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                                sql.Identifier(name), sql.Identifier(key)
                            ),
                            (list(map(str, keys)),),
                        )
                    self._copy_frame(cur, name, frame)
                for name, frame in tx.layer_append.items():
                    current = name
                    self._copy_frame(cur, name, frame)
                for table, (ids, at, batch_id) in tx.supersede.items():
                    current = table
                    cur.execute(
                        sql.SQL(
                            "UPDATE {} SET superseded_at = %s, superseded_by = %s WHERE version_id = ANY(%s)"
                        ).format(sql.Identifier(table)),
                        (_plain(at, "timestamp"), batch_id, [int(i) for i in ids]),
                    )
                for table, hashes in tx.row_hashes.items():
                    current = table
                    cur.executemany(
                        sql.SQL("UPDATE {} SET row_hash = %s WHERE version_id = %s").format(sql.Identifier(table)),
                        [(h, int(i)) for i, h in hashes.items()],
                    )
                for table, frame in tx.append.items():
                    current = table
                    self._copy_frame(cur, table, frame)
                current = "store_meta"
                if tx.meta:
                    self._write_meta(cur, tx.meta)
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
