"""Queues' time rules: an owner who leaves, no reply in time, overflow after waiting.

Revision ID: 20261202_queue_time_rules
Revises: 20261202_presence_changes
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_queue_time_rules"
down_revision: str | None = "20261202_presence_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUE_CHECKS = {
    "on_owner_away": "on_owner_away IN ('keep', 'requeue_after')",
    "owner_away_grace": "(on_owner_away = 'requeue_after') = (owner_away_grace_seconds IS NOT NULL)"
    " AND coalesce(owner_away_grace_seconds, 0) >= 0",
    "on_no_reply": "on_no_reply IN ('flag', 'requeue', 'next_agent')",
    "reply_time_positive": "reply_time_seconds IS NULL OR reply_time_seconds > 0",
    "max_wait_positive": "max_wait_seconds IS NULL OR max_wait_seconds > 0",
}


def upgrade() -> None:
    op.add_column(
        "queues",
        sa.Column("on_owner_away", sa.String(length=16), server_default="keep", nullable=False),
    )
    op.add_column("queues", sa.Column("owner_away_grace_seconds", sa.Integer(), nullable=True))
    op.add_column("queues", sa.Column("reply_time_seconds", sa.Integer(), nullable=True))
    op.add_column(
        "queues",
        sa.Column("on_no_reply", sa.String(length=16), server_default="flag", nullable=False),
    )
    op.add_column("queues", sa.Column("max_wait_seconds", sa.Integer(), nullable=True))
    for name, condition in _QUEUE_CHECKS.items():
        op.create_check_constraint(op.f(f"ck_queues_{name}"), "queues", condition)
    for column in ("awaiting_reply_since", "reply_overdue_at", "overflowed_at"):
        op.add_column("conversations", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_conversations_awaiting_reply",
        "conversations",
        ["awaiting_reply_since"],
        unique=False,
        postgresql_where=sa.text(
            "status = 'open' AND offer_state = 'accepted' AND awaiting_reply_since IS NOT NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_awaiting_reply", table_name="conversations")
    for column in ("overflowed_at", "reply_overdue_at", "awaiting_reply_since"):
        op.drop_column("conversations", column)
    for name in reversed(list(_QUEUE_CHECKS)):
        op.drop_constraint(op.f(f"ck_queues_{name}"), "queues", type_="check")
    for column in (
        "max_wait_seconds",
        "on_no_reply",
        "reply_time_seconds",
        "owner_away_grace_seconds",
        "on_owner_away",
    ):
        op.drop_column("queues", column)
