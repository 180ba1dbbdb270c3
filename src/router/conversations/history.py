"""The append-only history of conversations and the outbox that publishes it.

Every change is one `conversation_events` row with actor, time and reason; when Kafka is the
transport the same change is also queued in the outbox, published on `router.events.v1`
only after the transaction that made it has committed.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from router.models import ConversationEvent, OutboxEvent
from router.observability.metrics import CHANGES


class Change(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TIMED_OUT = "offer_timed_out"
    REVOKED = "offer_revoked"
    REASSIGNED = "reassigned"
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class Actor(StrEnum):
    SYSTEM = "system"
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"


@dataclass
class Journal:
    """Collects a transaction's changes and writes them in one statement each."""

    now: datetime
    events_topic: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self,
        conversation_id: uuid.UUID,
        change: Change,
        reason: str,
        *,
        actor: Actor = Actor.SYSTEM,
        actor_id: str | None = None,
        agent_id: uuid.UUID | None = None,
        queue_id: uuid.UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one change of one conversation."""
        self.rows.append(
            {
                "conversation_id": conversation_id,
                "kind": change.value,
                "actor_kind": actor.value,
                "actor_id": actor_id,
                "agent_id": agent_id,
                "queue_id": queue_id,
                "reason": reason,
                "details": details or {},
                "occurred_at": self.now,
            }
        )

    def discard(self, conversation_id: uuid.UUID, change: Change) -> None:
        """Forget the last not yet written change of this kind of one conversation."""
        for index in range(len(self.rows) - 1, -1, -1):
            row = self.rows[index]
            if row["conversation_id"] == conversation_id and row["kind"] == change.value:
                del self.rows[index]
                return

    async def flush(self, session: AsyncSession) -> None:
        """Write the collected changes (and their outbox copies) in the caller's transaction."""
        if not self.rows:
            return
        await session.execute(insert(ConversationEvent), self.rows)
        for change, count in Counter(row["kind"] for row in self.rows).items():
            CHANGES.labels(change).inc(count)
        if self.events_topic is not None:
            await session.execute(
                insert(OutboxEvent),
                [
                    {
                        "topic": self.events_topic,
                        "key": str(row["conversation_id"]).encode(),
                        "value": _cloud_event(row),
                    }
                    for row in self.rows
                ],
            )
        self.rows.clear()


def _cloud_event(row: dict[str, Any]) -> bytes:
    data = {
        "conversation_id": str(row["conversation_id"]),
        "change": row["kind"],
        "actor": {"kind": row["actor_kind"], "id": row["actor_id"]},
        "agent_id": str(row["agent_id"]) if row["agent_id"] else None,
        "queue_id": str(row["queue_id"]) if row["queue_id"] else None,
        "reason": row["reason"],
        "details": row["details"],
        "occurred_at": row["occurred_at"].isoformat(),
    }
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/router",
            "type": f"router.conversation.{row['kind']}",
            "time": row["occurred_at"].isoformat(),
            "subject": str(row["conversation_id"]),
            "datacontenttype": "application/json",
            "data": data,
        },
        separators=(",", ":"),
        default=str,
    ).encode()
