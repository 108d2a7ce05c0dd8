"""Alembic migrations of the PostGIS store, run programmatically (no ``alembic.ini`` needed, any cwd).

Migrations run as the database owner; the application then connects with a least-privileged role
(:func:`gis.store.postgis.grant_app_role`).

>>> from gis.store.migrations import head_revision
>>> head_revision()
'0004_cases'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["MIGRATIONS_DIR", "alembic_config", "upgrade", "downgrade", "current_revision", "head_revision"]

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(connection: sa.engine.Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic ``Config`` built in code.  Pass an open ``connection`` (used as is, in its transaction) or a
    ``url``; the URL is not put in the ini options, so passwords with ``%`` need no escaping."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    cfg.attributes["connection"] = connection
    cfg.attributes["url"] = url
    return cfg


def _run(engine: sa.engine.Engine, fn, revision: str) -> None:
    with engine.begin() as conn:  # one transaction: PostgreSQL DDL is transactional
        fn(alembic_config(conn), revision)


def upgrade(engine: sa.engine.Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the newest), as the connected (owner) role."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: sa.engine.Engine, revision: str = "base") -> None:
    """Downgrade the schema to ``revision``; ``"base"`` drops every landrenew table (and their data)."""
    _run(engine, command.downgrade, revision)


def current_revision(engine: sa.engine.Engine) -> str | None:
    """The revision the database is at; None for a database without the landrenew schema."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def head_revision() -> str:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
