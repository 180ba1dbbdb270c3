"""An outbox row leaves the table once Kafka has acknowledged it.

Published rows used to stay, marked with `published_at`, and nothing ever removed them: the
outbox grew by every change of every conversation, a second copy of the history. The relay
now deletes what it published (the history keeps the record), which also writes less than
marking did. Rows already published go now; `published_at` and its index are dropped.

Revision ID: 20261123_outbox_rows_leave
Revises: 20261123_outbox_inline_rows
Create Date: 2026-11-23 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261123_outbox_rows_leave"
down_revision: str | None = "20261123_outbox_inline_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_column("outbox", "published_at")


def downgrade() -> None:
    op.add_column("outbox", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
