"""Live calls: each agent's voice endpoint and ring time, whether they are on a call, and a
queue's voice settings (wait message, music, what an agent on a call may still get).

Revision ID: 20261202_live_calls
Revises: 20261202_presence_changes
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_live_calls"
down_revision: str | None = "20261202_customer_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("voice_endpoint_kind", sa.String(length=16), nullable=True))
    op.add_column("agents", sa.Column("voice_endpoint", sa.String(length=512), nullable=True))
    op.add_column(
        "agents", sa.Column("ring_seconds", sa.Integer(), server_default="20", nullable=False)
    )
    op.add_column("agents", sa.Column("on_call_since", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "ck_agents_voice_endpoint_kind",
        "agents",
        "voice_endpoint_kind IS NULL OR voice_endpoint_kind IN ('number', 'sip', 'client')",
    )
    op.create_check_constraint("ck_agents_ring_seconds", "agents", "ring_seconds BETWEEN 5 AND 600")
    op.add_column(
        "queues",
        sa.Column(
            "voice",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("queues", "voice")
    op.drop_constraint("ck_agents_ring_seconds", "agents", type_="check")
    op.drop_constraint("ck_agents_voice_endpoint_kind", "agents", type_="check")
    op.drop_column("agents", "on_call_since")
    op.drop_column("agents", "ring_seconds")
    op.drop_column("agents", "voice_endpoint")
    op.drop_column("agents", "voice_endpoint_kind")
