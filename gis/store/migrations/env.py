"""Alembic environment: runs on the connection passed in ``config.attributes`` (see ``__init__.py``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from gis.store.cases_store import case_metadata
from gis.store.models import metadata

config = context.config


def _include_object(obj, name, type_, reflected, compare_to):  # PostGIS' own tables are not ours
    if type_ == "table" and reflected and compare_to is None:
        return name in metadata.tables or name in case_metadata.tables
    return True


def _migrate(connection: sa.engine.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=[metadata, case_metadata],
        include_object=_include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        _migrate(conn)


if context.is_offline_mode():
    raise RuntimeError("landrenew migrations run online only (landrenew db upgrade)")
run_migrations_online()
