"""The PostGIS tables, built from the layer registry (``layers/*.yaml``) — no second list of fields.

One table per contract layer, named like the layer, plus ``store_meta(key, value)`` and the accounts'
``users`` and ``login_events`` (:mod:`gis.store.account_tables`).  Column types:

========================  ==========================================================
registry type             PostgreSQL
========================  ==========================================================
str, enum                 text (enum: ``CHECK (col IN (...))``)
int                       bigint
float, ratio              double precision
bool                      boolean
date                      date
timestamp                 timestamp with time zone
list                      jsonb
geometry                  ``geometry(MultiPolygon, 4490)`` with a GiST index
========================  ==========================================================

Required fields stay nullable (the GeoPackage store accepts what ingest let through; ingest enforces
``required``), so both stores hold the same rows.  Every table has the layer key as primary key and a hidden ``fid`` identity column (as in GeoPackage) that
keeps the insertion order: layers read back in the order they were written, and the latest of two decisions
with the same ``decided_at`` is the one inserted last.

>>> from gis.store.models import table_for
>>> table_for("decisions").primary_key.columns.keys()
['decision_id']
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

from ..crs import STORE_CRS
from ..schema import Field, Layer, get_layer, layer_names

__all__ = [
    "metadata",
    "build_metadata",
    "table_for",
    "column_type",
    "META_TABLE",
    "GEOMETRY_COLUMN",
    "SRID",
    "ORDER_COLUMN",
    "add_history_tables",
]

META_TABLE = "store_meta"
GEOMETRY_COLUMN = "geometry"
ORDER_COLUMN = "fid"
SRID = int(STORE_CRS.split(":")[1])

_TYPES: dict[str, type[sa.types.TypeEngine] | sa.types.TypeEngine] = {
    "str": sa.Text(),
    "enum": sa.Text(),
    "int": sa.BigInteger(),
    "float": sa.Float(precision=53),
    "ratio": sa.Float(precision=53),
    "bool": sa.Boolean(),
    "date": sa.Date(),
    "timestamp": sa.TIMESTAMP(timezone=True),
    "list": JSONB(),
}


def column_type(field: Field) -> sa.types.TypeEngine:
    """The SQL type of a registry field."""
    return _TYPES[field.type]


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _table(md: sa.MetaData, layer: Layer) -> sa.Table:
    keys = set(layer.key_fields)
    items: list[sa.schema.SchemaItem] = [
        sa.Column(
            ORDER_COLUMN,
            sa.BigInteger,
            sa.Identity(always=False),
            nullable=False,
            unique=True,
            comment="insertion order (as GeoPackage fid)",
        ),
    ]
    for f in layer.fields:
        items.append(sa.Column(f.name, column_type(f), nullable=f.name not in keys, comment=f.label))
        if f.type == "enum" and f.values:
            allowed = ", ".join(_sql_string(v) for v in f.values)
            items.append(sa.CheckConstraint(f'"{f.name}" IN ({allowed})', name=f"ck_{layer.name}_{f.name}"))
    if layer.is_spatial:
        items.append(sa.Column(GEOMETRY_COLUMN, Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True)))
    items.append(sa.PrimaryKeyConstraint(*layer.key_fields, name=f"pk_{layer.name}"))
    if layer.name == "decisions":
        items.append(sa.Index("ix_decisions_parcel_id", "parcel_id", "decided_at"))
    return sa.Table(layer.name, md, *items, comment=layer.label)


def build_metadata(*, history: bool = False) -> sa.MetaData:
    """A fresh ``MetaData`` with one table per contract layer and ``store_meta`` (revision 0001); with
    ``history`` also the history tables (revision 0003, :func:`add_history_tables`)."""
    md = sa.MetaData()
    for name in layer_names():
        _table(md, get_layer(name))
    sa.Table(
        META_TABLE,
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        comment="key/value metadata (synthetic, last run times)",
    )
    if history:
        add_history_tables(md)
    # -- accounts: users and login_events (gis.store.account_tables, migration 0002_users) ----------
    from .account_tables import add_account_tables

    add_account_tables(md)
    return md


# -- history (docs/history.md; revision 0003_history) ------------------------------------------------------------
def add_history_tables(md: sa.MetaData) -> list[sa.Table]:
    """The versions / batches / runs tables of :mod:`gis.store.history_schema`, with their indexes."""
    from .history_schema import LEDGER_LAYERS, history_layers

    tables = [_table(md, layer) for layer in history_layers()]
    for name in LEDGER_LAYERS:
        key = get_layer(name).key_fields[0]
        t = md.tables[f"{name}_versions"]
        sa.Index(f"ix_{t.name}_key", t.c[key], t.c.valid_to)
        sa.Index(f"ix_{t.name}_time", t.c.superseded_at, t.c.valid_to, t.c.valid_from)
    files = md.tables["batch_files"]
    sa.Index("ix_batch_files_sha256", files.c.sha256)
    return tables


@cache
def _metadata() -> sa.MetaData:
    return build_metadata(history=True)


metadata: sa.MetaData = _metadata()


def table_for(name: str) -> sa.Table:
    """The table of a contract layer (or ``store_meta``)."""
    if name != META_TABLE and name not in metadata.tables:
        get_layer(name)  # a clear error for an unknown layer
    return metadata.tables[name]
