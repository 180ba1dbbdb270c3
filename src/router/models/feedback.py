"""Customer feedback: the survey settings' versions, each survey sent, and each answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, Timestamped

_KINDS = "kind IN ('csat', 'ces', 'nps')"


class FeedbackSettingsVersion(Timestamped, Base):
    """One version of the survey settings document; the highest version is in force."""

    __tablename__ = "feedback_settings"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))


class FeedbackSurvey(Timestamped, Base):
    """The survey of one resolution of a conversation: at most one per resolution."""

    __tablename__ = "feedback_surveys"
    __table_args__ = (
        UniqueConstraint("conversation_id", "resolution"),
        CheckConstraint(_KINDS, name="kind"),
        Index(
            "ix_feedback_surveys_due",
            "send_at",
            postgresql_where="sent_at IS NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    resolution: Mapped[int] = mapped_column(Integer)
    resolved_at: Mapped[datetime] = mapped_column()
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    queue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("queues.id"))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))
    question: Mapped[str] = mapped_column(Text)
    thanks: Mapped[str] = mapped_column(Text)
    # True: answered on the router's page through a signed link (email, web chat); False:
    # answered with a number in a message on the conversation's thread.
    by_link: Mapped[bool] = mapped_column()
    # Who gets it and through which provider, as the agent's reply would have been sent.
    provider: Mapped[str] = mapped_column(String(40))
    via: Mapped[str] = mapped_column(String(40))
    sender: Mapped[str | None] = mapped_column(String(320))
    recipient: Mapped[str | None] = mapped_column(String(320))
    send_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[uuid.UUID | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    # The automatic thank-you answering a message with the score.
    thanks_message_id: Mapped[uuid.UUID | None] = mapped_column()


class Feedback(Base):
    """A customer's answer to a survey, with who and what it rates."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("survey_id"),
        CheckConstraint(_KINDS, name="kind"),
        CheckConstraint(
            "(kind = 'csat' AND score BETWEEN 1 AND 5) OR (kind = 'ces' AND score BETWEEN 1 AND 7)"
            " OR (kind = 'nps' AND score BETWEEN 0 AND 10)",
            name="score",
        ),
        Index("ix_feedback_received_at_id", "received_at", "id"),
        Index("ix_feedback_conversation_id", "conversation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    survey_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feedback_surveys.id", ondelete="CASCADE")
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    resolution: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    queue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("queues.id"))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column()
