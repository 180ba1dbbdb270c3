"""When each of an agent's slots last got or finished work, kept on the capacity row.

Routing writes it with the slot it claims and `resolve` with the slot it frees, so neither
writes the `agents` row: they contend only on the capacity row of the slot itself.

Revision ID: 20261122_capacity_last_work
Revises: 20261122_api_keys
Create Date: 2026-11-22 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261122_capacity_last_work"
down_revision: str | None = "20261122_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "agent_capacities",
        sa.Column("last_work_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("agent_capacities", "last_work_at")
