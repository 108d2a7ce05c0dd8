"""Accounts in the store: ``users`` (Argon2id hashes) and ``login_events`` (the sign-in audit), so every app
server and every ``landrenew users`` run on one database sees the same users.

The tables are those of :func:`gis.store.account_tables.add_account_tables`; ``login_events`` gets the same
kind of append-only trigger as ``decisions`` (no UPDATE, DELETE or TRUNCATE, for any role).  Users from an
old ``users.yaml`` are brought in with ``landrenew users import``.

Revision ID: 0002_users
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis.store.account_tables import EVENTS_TABLE, USERS_TABLE, add_account_tables

revision = "0002_users"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE FUNCTION landrenew_login_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '登录审计只能追加，不能修改或删除 (login_events are append-only: % refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER login_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON login_events
    FOR EACH STATEMENT EXECUTE FUNCTION landrenew_login_events_append_only();
"""


def _tables() -> list[sa.Table]:
    md = sa.MetaData()
    add_account_tables(md)
    return [md.tables[USERS_TABLE], md.tables[EVENTS_TABLE]]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _tables():
        table.create(bind, checkfirst=False)
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_tables()):
        table.drop(bind, checkfirst=True)
    op.execute("DROP FUNCTION IF EXISTS landrenew_login_events_append_only()")
