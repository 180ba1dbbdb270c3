"""Measures per conversation, kept as they happen by the database itself.

Two statement-level triggers (migration `20261202_conversation_measures`) keep these tables
from every insert into `conversation_events` and `messages`, whoever writes them; the code
only reads them. Each measure's definition: docs/reports.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base


class ConversationMetrics(Base):
    """One conversation's measures so far, and the state of its current cycle."""

    __tablename__ = "conversation_metrics"
    __table_args__ = (
        Index("ix_conversation_metrics_created_at", "created_at"),
        Index(
            "ix_conversation_metrics_abandoned_at",
            "abandoned_at",
            postgresql_where=sql("abandoned_at IS NOT NULL"),
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    # The queue it arrived in, and the first agent who took it.
    queue_id: Mapped[uuid.UUID | None] = mapped_column()
    agent_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    first_offered_at: Mapped[datetime | None] = mapped_column()
    first_accepted_at: Mapped[datetime | None] = mapped_column()
    first_message_at: Mapped[datetime | None] = mapped_column()
    first_response_at: Mapped[datetime | None] = mapped_column()
    # The current cycle: the oldest unanswered customer message, the first acceptance, and
    # whether an agent has replied since it was created or reopened.
    awaiting_since: Mapped[datetime | None] = mapped_column()
    holding_since: Mapped[datetime | None] = mapped_column()
    replied_in_cycle: Mapped[bool] = mapped_column(Boolean, server_default="false")
    handle_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    resolutions: Mapped[int] = mapped_column(Integer, server_default="0")
    last_resolved_at: Mapped[datetime | None] = mapped_column()
    transfers: Mapped[int] = mapped_column(Integer, server_default="0")
    reopens: Mapped[int] = mapped_column(Integer, server_default="0")
    abandoned_at: Mapped[datetime | None] = mapped_column()


class ConversationResponse(Base):
    """An agent's reply to a customer who was waiting, and how long they waited."""

    __tablename__ = "conversation_responses"
    __table_args__ = (
        # Covering: a report reads responses from the index alone.
        Index(
            "ix_conversation_responses_responded_at",
            "responded_at",
            postgresql_include=["queue_id", "agent_id", "channel", "first", "seconds"],
        ),
        Index("ix_conversation_responses_conversation_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    queue_id: Mapped[uuid.UUID | None] = mapped_column()
    agent_id: Mapped[uuid.UUID | None] = mapped_column()
    waited_from: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime] = mapped_column()
    seconds: Mapped[float] = mapped_column(Float)
    first: Mapped[bool] = mapped_column(Boolean)


class ConversationResolution(Base):
    """One resolution of a conversation: its resolution and handle time, and abandonment."""

    __tablename__ = "conversation_resolutions"
    __table_args__ = (
        Index(
            "ix_conversation_resolutions_resolved_at",
            "resolved_at",
            postgresql_include=[
                "queue_id",
                "agent_id",
                "channel",
                "resolution_seconds",
                "handle_seconds",
            ],
        ),
        Index("ix_conversation_resolutions_conversation_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    queue_id: Mapped[uuid.UUID | None] = mapped_column()
    agent_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    handled_from: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime] = mapped_column()
    resolution_seconds: Mapped[float] = mapped_column(Float)
    handle_seconds: Mapped[float | None] = mapped_column(Float)
    abandoned: Mapped[bool] = mapped_column(Boolean)


class MeasureObservation(Base):
    """A wait or response the histograms have not taken yet (drained by the sweeps)."""

    __tablename__ = "measure_observations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    measure: Mapped[str] = mapped_column(String(32))
    queue_id: Mapped[uuid.UUID | None] = mapped_column()
    channel: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[float] = mapped_column(Float)


class ReportChange(Base):
    """A UTC hour under which a report reads a row that changed (kept by triggers, migration
    `20261202_report_days`), until the refresher forgets the report days it overlaps."""

    __tablename__ = "report_changes"
    __table_args__ = (Index("ix_report_changes_hour", "hour"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hour: Mapped[datetime] = mapped_column()


class ReportView(Base):
    """A time zone and grouping the conversation report was asked for: its days are kept."""

    __tablename__ = "report_views"

    tz: Mapped[str] = mapped_column(String(64), primary_key=True)
    by: Mapped[str] = mapped_column(String(16), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column()


class ReportDay(Base):
    """One local day's conversation report in one view: every group's aggregates and, for
    merging days into weeks, their durations' histograms (JSON text, see
    `router.reports.days`)."""

    __tablename__ = "report_days"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tz", "by"], ["report_views.tz", "report_views.by"], ondelete="CASCADE"
        ),
    )

    tz: Mapped[str] = mapped_column(String(64), primary_key=True)
    by: Mapped[str] = mapped_column(String(16), primary_key=True)
    day_start: Mapped[datetime] = mapped_column(primary_key=True)
    day_end: Mapped[datetime] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column()
    measures: Mapped[str] = mapped_column(Text)
    bin_keys: Mapped[str] = mapped_column(Text)
    bins: Mapped[bytes] = mapped_column(LargeBinary)
