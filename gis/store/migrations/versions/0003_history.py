"""History (docs/history.md): versions of the ledger layers with valid and transaction time, import batches and their
files, kept runs and their rows, decision snapshots, progress recording times.

The rows already in the ledger layers become their first versions — valid since ever, recorded at the upgrade,
batch ``upgrade`` — so a populated database keeps everything it had (layers, decisions, meta) and gains a history
that starts today.  Their content hashes are filled by the first batch that touches them.

Revision ID: 0003_history
Revises: 0002_users
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gis.schema import get_layer
from gis.store.history_schema import LEDGER_LAYERS, NEVER, OPEN_END, SINCE_EVER
from gis.store.models import add_history_tables

revision = "0003_history"
down_revision = "0002_users"
branch_labels = None
depends_on = None


def _tables() -> list[sa.Table]:
    return add_history_tables(sa.MetaData())


def upgrade() -> None:
    bind = op.get_bind()
    tables = _tables()
    for table in tables:
        table.create(bind, checkfirst=False)
    migrated = []
    for name in LEDGER_LAYERS:
        layer = get_layer(name)
        cols = [*layer.field_names, *(["geometry"] if layer.is_spatial else [])]
        names = ", ".join(f'"{c}"' for c in cols)
        result = bind.execute(
            sa.text(
                f'INSERT INTO "{name}_versions" (version_id, {names}, valid_from, valid_to, recorded_at, superseded_at, '
                f"batch_id, retired, change) SELECT row_number() OVER (ORDER BY fid), {names}, :since, :open, "
                f"date_trunc('milliseconds', now()), :never, 'upgrade', false, 'added' FROM \"{name}\" ORDER BY fid"
            ),
            {"since": SINCE_EVER.date(), "open": OPEN_END.date(), "never": NEVER.to_pydatetime()},
        )
        if result.rowcount:
            migrated.append(name)
    if migrated:
        bind.execute(
            sa.text(
                "INSERT INTO batches (batch_id, started_at, recorded_at, imported_by, mode, layers, note) "
                "VALUES ('upgrade', date_trunc('milliseconds', now()), date_trunc('milliseconds', now()), 'landrenew', "
                "'upgrade', CAST(:layers AS jsonb), :note)"
            ),
            {"layers": "[" + ",".join(f'"{n}"' for n in migrated) + "]", "note": "升级前已有的台账数据，视为自始有效"},
        )


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_tables()):
        table.drop(bind, checkfirst=True)
