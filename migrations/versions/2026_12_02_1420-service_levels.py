"""Service levels: versions of the SLA policy, each conversation's SLA clocks, and a queue's
choice to offer its waiting conversations by SLA due time.

Revision ID: 20261202_service_levels
Revises: 20261202_live_calls
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_service_levels"
down_revision: str | None = "20261202_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sla_policies"),
        sa.UniqueConstraint("version", name="uq_sla_policies_version"),
    )
    op.create_index(
        "uq_sla_policies_active",
        "sla_policies",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "conversation_slas",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=100), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=False),
        sa.Column("calendar", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_risk_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_risk_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "target IN ('first_response', 'next_response', 'resolution')",
            name="ck_conversation_slas_target",
        ),
        sa.CheckConstraint(
            "calendar IN ('business_hours', 'always')", name="ck_conversation_slas_calendar"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_slas_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "target", name="pk_conversation_slas"),
    )
    op.create_index(
        "ix_conversation_slas_running",
        "conversation_slas",
        ["at_risk_from"],
        unique=False,
        postgresql_where=sa.text("met_at IS NULL AND breached_at IS NULL"),
    )
    op.add_column(
        "queues",
        sa.Column("order_waiting", sa.String(length=16), server_default="arrival", nullable=False),
    )
    op.create_check_constraint(
        "ck_queues_order_waiting", "queues", "order_waiting IN ('arrival', 'sla_due')"
    )


def downgrade() -> None:
    op.drop_constraint("ck_queues_order_waiting", "queues", type_="check")
    op.drop_column("queues", "order_waiting")
    op.drop_index("ix_conversation_slas_running", table_name="conversation_slas")
    op.drop_table("conversation_slas")
    op.drop_index("uq_sla_policies_active", table_name="sla_policies")
    op.drop_table("sla_policies")
