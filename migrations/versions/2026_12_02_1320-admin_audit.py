"""Administrators' changes are audited: who changed which agent, queue, key or policy, and when.

Revision ID: 20261202_admin_audit
Revises: 20261202_presence_changes
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_admin_audit"
down_revision: str | None = "20261202_previous_owners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_admin_audit"),
    )
    op.create_index(
        "ix_admin_audit_subject", "admin_audit", ["subject_kind", "subject_id", "id"], unique=False
    )
    op.create_index("ix_admin_audit_at", "admin_audit", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_admin_audit_at", table_name="admin_audit")
    op.drop_index("ix_admin_audit_subject", table_name="admin_audit")
    op.drop_table("admin_audit")
