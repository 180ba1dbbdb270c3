"""Customer feedback: versioned survey settings, one survey per resolution, the answers.

Revision ID: 20261202_feedback
Revises: 20261202_live_calls
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_feedback"
down_revision: str | None = "20261202_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "kind IN ('csat', 'ces', 'nps')"


def upgrade() -> None:
    op.create_table(
        "feedback_settings",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("version", name="pk_feedback_settings"),
    )
    op.create_table(
        "feedback_surveys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("thanks", sa.Text(), nullable=False),
        sa.Column("by_link", sa.Boolean(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("via", sa.String(length=40), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("thanks_message_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(_KINDS, name="ck_feedback_surveys_kind"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_feedback_surveys_agent_id_agents"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_feedback_surveys_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name="fk_feedback_surveys_queue_id_queues"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_surveys"),
        sa.UniqueConstraint(
            "conversation_id", "resolution", name="uq_feedback_surveys_conversation_id_resolution"
        ),
    )
    op.create_index(
        "ix_feedback_surveys_due",
        "feedback_surveys",
        ["send_at"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_KINDS, name="ck_feedback_kind"),
        sa.CheckConstraint(
            "(kind = 'csat' AND score BETWEEN 1 AND 5) OR (kind = 'ces' AND score BETWEEN 1 AND 7)"
            " OR (kind = 'nps' AND score BETWEEN 0 AND 10)",
            name="ck_feedback_score",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_feedback_agent_id_agents"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_feedback_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["queue_id"], ["queues.id"], name="fk_feedback_queue_id_queues"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["feedback_surveys.id"],
            name="fk_feedback_survey_id_feedback_surveys",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("survey_id", name="uq_feedback_survey_id"),
    )
    op.create_index("ix_feedback_received_at_id", "feedback", ["received_at", "id"])
    op.create_index("ix_feedback_conversation_id", "feedback", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_conversation_id", table_name="feedback")
    op.drop_index("ix_feedback_received_at_id", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_feedback_surveys_due", table_name="feedback_surveys")
    op.drop_table("feedback_surveys")
    op.drop_table("feedback_settings")
