"""Attachments whose bytes the router keeps or fetches: one row per file of a message."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, Timestamped


class StoredAttachment(Timestamped, Base):
    """A file of a message: an inbound one (by its position on the message) or an upload.

    An upload belongs to its conversation before a reply carries it (`message_id` is set
    then). `pending` rows are the fetcher's queue: provider-hosted media not fetched yet,
    tried again at `next_attempt_at`.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint("direction IN ('inbound', 'outbound')", name="direction"),
        CheckConstraint(
            "status IS NULL OR status IN ('stored', 'pending', 'failed', 'refused')",
            name="status",
        ),
        Index("ix_attachments_message_id", "message_id"),
        Index("ix_attachments_conversation_id", "conversation_id"),
        Index(
            "ix_attachments_pending",
            "next_attempt_at",
            postgresql_where=sql("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE")
    )
    position: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    blob_key: Mapped[str | None] = mapped_column(String(128))
    sniffed_type: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
