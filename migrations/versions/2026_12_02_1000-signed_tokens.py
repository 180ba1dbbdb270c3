"""Signed webhook tokens are remembered in PostgreSQL, so every router process sees them.

Mailgun signs a one-time token; a token seen again within the replay window is a replay,
unless the post is the very same one (a redelivery). The memory used to live in each
process, so several `router serve` replicas behind a load balancer did not share it.

Revision ID: 20261202_signed_tokens
Revises: 20261123_outbox_rows_leave
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_signed_tokens"
down_revision: str | None = "20261123_outbox_rows_leave"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signed_tokens",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("body_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "token", name=op.f("pk_signed_tokens")),
    )
    op.create_index(
        op.f("ix_signed_tokens_expires_at"), "signed_tokens", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_signed_tokens_expires_at"), table_name="signed_tokens")
    op.drop_table("signed_tokens")
