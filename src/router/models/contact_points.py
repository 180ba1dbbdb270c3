"""Contact points: agents and the team queues they serve, and the routing policy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, DocumentVersion, Timestamped


class Agent(Timestamped, Base):
    """A person who answers conversations, with skills, languages and a presence."""

    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint("presence IN ('online', 'away', 'offline')", name="presence"),
        CheckConstraint(
            "voice_endpoint_kind IS NULL OR voice_endpoint_kind IN ('number', 'sip', 'client')",
            name="voice_endpoint_kind",
        ),
        CheckConstraint("ring_seconds BETWEEN 5 AND 600", name="ring_seconds"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    presence: Mapped[str] = mapped_column(String(16), server_default="offline")
    presence_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # When the agent last came online. Routing reads the agent as idle since the latest of
    # this and their capacity rows' `last_work_at`: ties between equally loaded agents go to
    # whoever has been idle longest.
    idle_since: Mapped[datetime] = mapped_column(server_default=func.now())
    skills: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    languages: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), server_default=text("'{}'::varchar[]")
    )
    teams: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), server_default=text("'{}'::varchar[]")
    )
    # Where a live call rings the agent: a phone number, a SIP URI or a Twilio Client
    # identity; NULL kind: the Client identity named after the agent's handle.
    voice_endpoint_kind: Mapped[str | None] = mapped_column(String(16))
    voice_endpoint: Mapped[str | None] = mapped_column(String(512))
    # How long a live call rings the agent; the ring is the offer.
    ring_seconds: Mapped[int] = mapped_column(Integer, server_default="20")
    # Set while the agent talks on a live call; queues may keep other work from them meanwhile.
    on_call_since: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class AgentCapacity(Base):
    """How many active conversations an agent takes on one channel, and how many they hold.

    `active` only ever grows through `UPDATE ... WHERE active < capacity`, so two router
    processes can never both hand out an agent's last slot. `last_work_at` is when the slot
    last got work from routing or finished it (a resolve); it lives here, not on the agent,
    so that routing and agents' actions write only the slot's own row.
    """

    __tablename__ = "agent_capacities"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        CheckConstraint("active >= 0", name="active_non_negative"),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    active: Mapped[int] = mapped_column(Integer, server_default="0")
    last_work_at: Mapped[datetime | None] = mapped_column()


class Queue(Timestamped, Base):
    """A team contact point: owns conversations while no agent is free.

    Its time rules (see docs/routing.md) are all off by default: an owner who leaves keeps
    their accepted work (`keep`), no reply time is watched, and nothing waits for overflow.
    """

    __tablename__ = "queues"
    __table_args__ = (
        CheckConstraint("on_owner_away IN ('keep', 'requeue_after')", name="on_owner_away"),
        CheckConstraint(
            "(on_owner_away = 'requeue_after') = (owner_away_grace_seconds IS NOT NULL)"
            " AND coalesce(owner_away_grace_seconds, 0) >= 0",
            name="owner_away_grace",
        ),
        CheckConstraint("on_no_reply IN ('flag', 'requeue', 'next_agent')", name="on_no_reply"),
        CheckConstraint(
            "reply_time_seconds IS NULL OR reply_time_seconds > 0", name="reply_time_positive"
        ),
        CheckConstraint(
            "max_wait_seconds IS NULL OR max_wait_seconds > 0", name="max_wait_positive"
        ),
        CheckConstraint("order_waiting IN ('arrival', 'sla_due')", name="order_waiting"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    required_skills: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    language: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    # A `BusinessHours` document (weekly schedule in the queue's own time zone); NULL: always.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column()
    overflow_queue_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("queues.id", ondelete="SET NULL")
    )
    # What becomes of an agent's accepted conversations once they have been away or offline
    # for the grace period: `keep`, or `requeue_after` (back to the queue when the customer
    # is waiting for an answer).
    on_owner_away: Mapped[str] = mapped_column(String(16), server_default="keep")
    owner_away_grace_seconds: Mapped[int | None] = mapped_column(Integer)
    # How long the owner has to answer a customer's message; NULL: not watched.
    reply_time_seconds: Mapped[int | None] = mapped_column(Integer)
    on_no_reply: Mapped[str] = mapped_column(String(16), server_default="flag")
    # A conversation waiting longer than this moves to the overflow queue; NULL: never.
    max_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    # A `QueueVoice` document: what a waiting caller hears, and what an agent on a call may
    # still be offered.
    voice: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # Within one priority, waiting conversations are offered by arrival, or by the SLA due
    # time nearest first (`sla_due`, see router.service_levels).
    order_waiting: Mapped[str] = mapped_column(String(16), server_default="arrival")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class QueueAgent(Base):
    """Which agents serve which queue."""

    __tablename__ = "queue_agents"

    queue_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class RoutingPolicy(DocumentVersion, Base):
    """One version of the routing policy; exactly one version is active at a time."""

    __tablename__ = "routing_policies"
    __table_args__ = (
        UniqueConstraint("version"),
        Index(
            "uq_routing_policies_active",
            "active",
            unique=True,
            postgresql_where=text("active"),
        ),
    )
