"""The reports read SLA clocks by the moment they were settled (met or breached).

Revision ID: 20261202_report_outcomes
Revises: 20261202_conversation_measures
Create Date: 2026-12-02 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_report_outcomes"
down_revision: str | None = "20261202_conversation_measures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Covering: the report reads settled clocks from the index alone, running ones never.
    op.create_index(
        "ix_conversation_slas_settled",
        "conversation_slas",
        [sa.text("least(met_at, breached_at)")],
        postgresql_include=["conversation_id", "target", "due_at", "met_at", "breached_at"],
        postgresql_where=sa.text("met_at IS NOT NULL OR breached_at IS NOT NULL"),
    )
    # A partial index's expression has no statistics of its own: without these, the planner
    # guesses a day's clocks and a quarter's alike, and joins either by reading every
    # conversation.
    op.execute(
        "CREATE STATISTICS conversation_slas_settled_at ON (least(met_at, breached_at))"
        " FROM conversation_slas"
    )


def downgrade() -> None:
    op.execute("DROP STATISTICS conversation_slas_settled_at")
    op.drop_index("ix_conversation_slas_settled", table_name="conversation_slas")
