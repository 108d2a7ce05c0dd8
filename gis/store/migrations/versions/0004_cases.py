"""Disposal cases: append-only tables ``cases``, ``case_events`` and ``attachments`` (docs/disposal.md §2).

The tables come from :func:`gis.store.cases_store.build_case_metadata` (one column list for both stores); a
statement trigger refuses UPDATE, DELETE and TRUNCATE on each for every role, as for ``decisions``.

Comes after 0003_history.

Revision ID: 0004_cases
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from gis.store.cases_store import APPEND_ONLY_SQL, DROP_SQL, build_case_metadata

revision = "0004_cases"
down_revision = "0003_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_case_metadata().create_all(op.get_bind(), checkfirst=False)
    op.execute(APPEND_ONLY_SQL)


def downgrade() -> None:
    op.execute(DROP_SQL)  # CASCADE drops the triggers
    build_case_metadata().drop_all(op.get_bind(), checkfirst=True)
