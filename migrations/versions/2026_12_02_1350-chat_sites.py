"""Web-chat sites with the URL their replies go to; failed replies counted per conversation.

Revision ID: 20261202_chat_sites
Revises: 20261202_presence_changes
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_chat_sites"
down_revision: str | None = "20261202_live_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_sites",
        sa.Column("site", sa.String(length=100), nullable=False),
        sa.Column("reply_url", sa.String(length=2048), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("site", name="pk_chat_sites"),
    )
    op.add_column(
        "conversations",
        sa.Column("failed_replies", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("conversations", "failed_replies")
    op.drop_table("chat_sites")
