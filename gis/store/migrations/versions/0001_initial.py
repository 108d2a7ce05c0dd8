"""Initial schema: every contract layer as built from the layer registry, ``store_meta``, and the
append-only trigger on ``decisions``.

The tables come from :func:`gis.store.models.build_metadata` (the registry is the one field list).  A later
change to ``layers/*.yaml`` ships as a new revision (``alembic revision --autogenerate`` against
``gis.store.models.metadata``); the schema test fails until it does.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis.store.models import build_metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE FUNCTION landrenew_decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '审定记录只能追加，不能修改或删除 (decisions are append-only: % refused)', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = '如需更正，请追加一条新的审定记录';
END $$;
CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION landrenew_decisions_append_only();
"""


#: tables that later revisions create (0002_users: the accounts)
LATER = {"users", "login_events"}


def _tables() -> list:
    return [t for name, t in build_metadata().tables.items() if name not in LATER]


def upgrade() -> None:
    bind = op.get_bind()
    has_postgis = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).scalar()
    if not has_postgis:  # needs a superuser; a DBA may create it beforehand instead
        op.execute("CREATE EXTENSION postgis")
    build_metadata().create_all(bind, tables=_tables(), checkfirst=False)
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    bind = op.get_bind()
    build_metadata().drop_all(bind, tables=_tables(), checkfirst=True)
    op.execute("DROP FUNCTION IF EXISTS landrenew_decisions_append_only()")
