"""Conversations, their threads, messages and the append-only history of changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, Timestamped


class ConversationStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class OfferState(StrEnum):
    """Where an agent-owned conversation stands; NULL means the queue owns it (waiting)."""

    OFFERED = "offered"
    ACCEPTED = "accepted"


class Conversation(Timestamped, Base):
    """A customer's conversation and its single owner.

    The owner of an open conversation is `agent_id` when set, else `queue_id`: the checks
    below make "exactly one owner" a property of every row, not of the code that writes it.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint("status <> 'open' OR queue_id IS NOT NULL", name="open_has_owner"),
        CheckConstraint(
            "offer_state IS NULL OR offer_state IN ('offered', 'accepted')", name="offer_state"
        ),
        CheckConstraint(
            "(status = 'open' AND (agent_id IS NULL) = (offer_state IS NULL))"
            " OR (status = 'resolved' AND offer_state IS NULL)",
            name="agent_owner_has_offer_state",
        ),
        Index(
            "ix_conversations_waiting",
            "queue_id",
            sql("priority DESC"),
            "waiting_since",
            postgresql_where=sql("status = 'open' AND agent_id IS NULL"),
        ),
        Index(
            "ix_conversations_agent_open",
            "agent_id",
            postgresql_where=sql("status = 'open' AND agent_id IS NOT NULL"),
        ),
        Index("ix_conversations_customer_open", "customer_id", "last_message_at"),
        # An agent's resolved conversations are listed by who owned them last.
        Index("ix_conversations_last_agent", "last_agent_id"),
        # The sweep's search for owners who leave customers unanswered.
        Index(
            "ix_conversations_awaiting_reply",
            "awaiting_reply_since",
            postgresql_where=sql(
                "status = 'open' AND offer_state = 'accepted' AND awaiting_reply_since IS NOT NULL"
            ),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    queue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("queues.id"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    offer_state: Mapped[str | None] = mapped_column(String(16))
    offered_at: Mapped[datetime | None] = mapped_column()
    offer_expires_at: Mapped[datetime | None] = mapped_column()
    # Agents left out of the current offer round ({agent id: "declined" | "timed out"}).
    excluded_agents: Mapped[dict[str, Any]] = mapped_column(server_default=sql("'{}'::jsonb"))
    # The agent who last owned it, for sticky routing and reopening to the same owner.
    last_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    # When it started waiting; a transfer keeps it so the conversation keeps its place.
    waiting_since: Mapped[datetime] = mapped_column(server_default=func.now())
    subject: Mapped[str | None] = mapped_column(String(998))
    last_message_at: Mapped[datetime] = mapped_column(server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column()
    # The customer's oldest message nobody has answered yet (NULL: all answered).
    awaiting_reply_since: Mapped[datetime | None] = mapped_column()
    # When the owner was last flagged for not answering in the queue's reply time: once per
    # unanswered message and owner, not at every sweep.
    reply_overdue_at: Mapped[datetime | None] = mapped_column()
    # When it last moved to an overflow queue after waiting too long; the next queue's limit
    # counts from then, so a chain of overflows does not jump several queues at once.
    overflowed_at: Mapped[datetime | None] = mapped_column()
    # Replies that ended `failed` and were not retried: on the row so the owner's long-poll
    # (which watches conversation rows) wakes when one fails, and the list shows it.
    failed_replies: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ConversationThread(Base):
    """A provider thread (email references, chat session, phone pair) and its conversation."""

    __tablename__ = "conversation_threads"

    thread_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )


class Message(Timestamped, Base):
    """A message in a conversation: the customer's, an agent's reply, or an internal note.

    (provider, provider_message_id) is unique, so a redelivered webhook never makes a
    second row.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id"),
        CheckConstraint("direction IN ('inbound', 'outbound', 'internal')", name="direction"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    event_id: Mapped[str | None] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), server_default="text")
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(40))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    sender: Mapped[str | None] = mapped_column(String(320))
    recipient: Mapped[str | None] = mapped_column(String(320))
    author_agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    subject: Mapped[str | None] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text, server_default="")
    stripped_text: Mapped[str] = mapped_column(Text, server_default="")
    attachments: Mapped[list[Any]] = mapped_column(JSONB, server_default=sql("'[]'::jsonb"))
    details: Mapped[dict[str, Any]] = mapped_column(server_default=sql("'{}'::jsonb"))
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_updated_at: Mapped[datetime | None] = mapped_column()
    provider_timestamp: Mapped[datetime | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @property
    def call_status(self) -> str | None:
        """A call's furthest status (ringing ... completed, busy, no-answer); calls only."""
        status = self.details.get("call_status") if self.kind == "call" else None
        return status if isinstance(status, str) else None

    @property
    def call_duration_seconds(self) -> int | None:
        """How long a call lasted, once the provider said; calls only."""
        seconds = self.details.get("call_duration_seconds") if self.kind == "call" else None
        return int(seconds) if isinstance(seconds, str) and seconds.isdigit() else None

    @property
    def call_progress(self) -> dict[str, Any] | None:
        """A live call's story: where it stands, whom it rang, who answered, the voicemail."""
        if self.kind != "call":
            return None
        found = {key: self.details[key] for key in _CALL_PROGRESS if key in self.details}
        return found or None

    @property
    def template(self) -> dict[str, Any] | None:
        """The WhatsApp template an outbound message was sent as (name, language, parameters)."""
        template = self.details.get("template") if self.direction == "outbound" else None
        return template if isinstance(template, dict) else None

    @property
    def visibility(self) -> str | None:
        """How a reply to a comment or mention went: `public` or `private`."""
        visibility = self.details.get("visibility") if self.direction == "outbound" else None
        return visibility if isinstance(visibility, str) else None


# What `router.voice.progress` keeps on a call message.
_CALL_PROGRESS = (
    "call_stage",
    "call_attempts",
    "answered_by",
    "answered_at",
    "talk_seconds",
    "voicemail_at",
    "abandoned_at",
)


# The events by which an agent came to own a conversation: they accepted an offer (or took
# it back on reopening), or a supervisor gave it to them as accepted work. In parentheses:
# queries AND it with conditions of their own.
TOOK_OWNERSHIP = (
    "(kind = 'accepted' OR (kind = 'reassigned' AND details ->> 'offer_state' = 'accepted'))"
)


class ConversationEvent(Base):
    """One appended change of a conversation, with who did it, when and why."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        Index("ix_conversation_events_conversation", "conversation_id", "id"),
        # Who owned what, for the agents who may still read what they handed on.
        Index(
            "ix_conversation_events_owner",
            "agent_id",
            "conversation_id",
            postgresql_where=sql(TOOK_OWNERSHIP),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(100))
    agent_id: Mapped[uuid.UUID | None] = mapped_column()
    queue_id: Mapped[uuid.UUID | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(server_default=sql("'{}'::jsonb"))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OutboxEvent(Base):
    """An event to publish on Kafka once the transaction that wrote it has committed.

    A row leaves the table once the broker has acknowledged it: the history keeps the record.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
