"""The history of agents' presence: one row per change, never updated."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base


class PresenceChange(Base):
    """An agent's presence went from one value to another, by someone, at a moment.

    `changed_at` is the clock of the transaction that made the change, the one its offers'
    events use, so the two can be compared: an offer never outlives its agent's `online`.
    """

    __tablename__ = "presence_changes"
    __table_args__ = (Index("ix_presence_changes_agent_id_changed_at", "agent_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agents.id"))
    from_presence: Mapped[str] = mapped_column(String(16))
    to_presence: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column()
