"""Customers across channels: shared E.164 numbers, why an identity belongs, merges, history.

Revision ID: 20261202_customer_links
Revises: 20261202_presence_changes
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_customer_links"
down_revision: str | None = "20261202_admin_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Numbers already met: a phone or WhatsApp identity whose messages said they were E.164.
# When a phone and a WhatsApp identity of the same number already belong to two customers,
# the older identity's customer keeps the number; nobody merges them but an agent.
_BACKFILL_NUMBERS = """
INSERT INTO customer_numbers (number, customer_id)
SELECT DISTINCT ON (i.value) i.value, i.customer_id
FROM customer_identities AS i
WHERE i.kind IN ('phone', 'whatsapp')
  AND EXISTS (
    SELECT 1 FROM messages AS m
    WHERE m.sender = i.value AND m.details ->> 'sender_normalised' = 'true'
  )
ORDER BY i.value, i.created_at, i.id
"""


def upgrade() -> None:
    op.add_column("customers", sa.Column("merged_into_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_customers_merged_into_id_customers",
        "customers",
        "customers",
        ["merged_into_id"],
        ["id"],
    )
    op.add_column(
        "customer_identities",
        sa.Column("source", sa.String(length=32), server_default="first_contact", nullable=False),
    )
    op.create_table(
        "customer_numbers",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_numbers_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name="pk_customer_numbers"),
    )
    op.create_index(
        "ix_customer_numbers_customer_id", "customer_numbers", ["customer_id"], unique=False
    )
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("into_customer_id", sa.Uuid(), nullable=False),
        sa.Column("from_customer_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("identities", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("conversations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("numbers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("from_display_name", sa.String(length=200), nullable=True),
        sa.Column("from_attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attributes_copied", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "display_name_copied", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=True),
        sa.Column("undo_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_customer_id"],
            ["customers.id"],
            name="fk_customer_merges_from_customer_id_customers",
        ),
        sa.ForeignKeyConstraint(
            ["into_customer_id"],
            ["customers.id"],
            name="fk_customer_merges_into_customer_id_customers",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_merges"),
    )
    op.create_index("ix_customer_merges_from_customer_id", "customer_merges", ["from_customer_id"])
    op.create_index("ix_customer_merges_into_customer_id", "customer_merges", ["into_customer_id"])
    op.create_table(
        "customer_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_events_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customer_events"),
    )
    op.create_index(
        "ix_customer_events_customer", "customer_events", ["customer_id", "id"], unique=False
    )
    op.execute(_BACKFILL_NUMBERS)


def downgrade() -> None:
    op.drop_index("ix_customer_events_customer", table_name="customer_events")
    op.drop_table("customer_events")
    op.drop_index("ix_customer_merges_into_customer_id", table_name="customer_merges")
    op.drop_index("ix_customer_merges_from_customer_id", table_name="customer_merges")
    op.drop_table("customer_merges")
    op.drop_index("ix_customer_numbers_customer_id", table_name="customer_numbers")
    op.drop_table("customer_numbers")
    op.drop_column("customer_identities", "source")
    op.drop_constraint("fk_customers_merged_into_id_customers", "customers", type_="foreignkey")
    op.drop_column("customers", "merged_into_id")
