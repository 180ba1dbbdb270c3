"""Outbox rows are kept whole in the table, never compressed.

An outbox row lives from the routing transaction that writes it until the relay has
published it, a moment later. PostgreSQL compresses any row over about 2 kB before storing
it; an offer's event with its decision's audit is often that big, and compressing it (then
decompressing it for the relay) cost more than writing it. Rows now stay uncompressed up
to the largest that fits a page; bigger ones are still moved out of line as before.

Revision ID: 20261123_outbox_inline_rows
Revises: 20261122_capacity_last_work
Create Date: 2026-11-23 02:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261123_outbox_inline_rows"
down_revision: str | None = "20261122_capacity_last_work"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE outbox SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox RESET (toast_tuple_target)")
