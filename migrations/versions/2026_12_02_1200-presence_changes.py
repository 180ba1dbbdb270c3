"""Every change of an agent's presence is kept: who changed it, from what to what, and when.

Revision ID: 20261202_presence_changes
Revises: 20261123_outbox_rows_leave
Create Date: 2026-12-02 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_presence_changes"
down_revision: str | None = "20261202_signed_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presence_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("from_presence", sa.String(length=16), nullable=False),
        sa.Column("to_presence", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_presence_changes_agent_id_agents"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_presence_changes"),
    )
    op.create_index(
        "ix_presence_changes_agent_id_changed_at",
        "presence_changes",
        ["agent_id", "changed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_presence_changes_agent_id_changed_at", table_name="presence_changes")
    op.drop_table("presence_changes")
