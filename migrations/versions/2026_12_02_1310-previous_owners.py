"""An index of who took ownership of which conversation, for previous owners' reads.

Revision ID: 20261202_previous_owners
Revises: 20261202_presence_changes
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_previous_owners"
down_revision: str | None = "20261202_queue_time_rules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As `router.models.conversations.TOOK_OWNERSHIP` was when this revision was written.
_TOOK_OWNERSHIP = (
    "(kind = 'accepted' OR (kind = 'reassigned' AND details ->> 'offer_state' = 'accepted'))"
)


def upgrade() -> None:
    op.create_index(
        "ix_conversation_events_owner",
        "conversation_events",
        ["agent_id", "conversation_id"],
        unique=False,
        postgresql_where=sa.text(_TOOK_OWNERSHIP),
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_events_owner", table_name="conversation_events")
