"""Service levels: the versions of the SLA policy, and each conversation's SLA clocks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, DocumentVersion


class SlaPolicyVersion(DocumentVersion, Base):
    """One version of the SLA policy document; at most one version is active."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("version"),
        Index("uq_sla_policies_active", "active", unique=True, postgresql_where=sql("active")),
    )


class ConversationSla(Base):
    """One SLA target's clock on one conversation: when it started, falls due, was met.

    `next_response` is one row per conversation, started again at each customer message that
    waits for an answer. A clock is paused while `paused_since` is set (its `due_at` is then
    NULL); `paused_seconds` is the counted time its past pauses would have taken.
    """

    __tablename__ = "conversation_slas"
    __table_args__ = (
        CheckConstraint(
            "target IN ('first_response', 'next_response', 'resolution')", name="target"
        ),
        CheckConstraint("calendar IN ('business_hours', 'always')", name="calendar"),
        # The sweep's search for clocks about to run out or run out.
        Index(
            "ix_conversation_slas_running",
            "at_risk_from",
            postgresql_where=sql("met_at IS NULL AND breached_at IS NULL"),
        ),
        # The reports' search for clocks settled in a window (met or breached first).
        Index(
            "ix_conversation_slas_settled",
            sql("least(met_at, breached_at)"),
            postgresql_include=["conversation_id", "target", "due_at", "met_at", "breached_at"],
            postgresql_where=sql("met_at IS NOT NULL OR breached_at IS NOT NULL"),
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    target: Mapped[str] = mapped_column(String(16), primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[int] = mapped_column(Integer)
    target_seconds: Mapped[int] = mapped_column(Integer)
    calendar: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    met_at: Mapped[datetime | None] = mapped_column()
    breached_at: Mapped[datetime | None] = mapped_column()
    # From when the clock counts as at risk (the due time less the lead); `at_risk_at`:
    # when `sla.at_risk` was published for it.
    at_risk_from: Mapped[datetime | None] = mapped_column()
    at_risk_at: Mapped[datetime | None] = mapped_column()
    paused_since: Mapped[datetime | None] = mapped_column()
    paused_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
