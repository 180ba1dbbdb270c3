"""The append-only history of conversations and the outbox that publishes it.

Every change is one `conversation_events` row with actor, time and reason; when Kafka is the
transport the same change is also queued in the outbox, published on `router.events.v1`
only after the transaction that made it has committed.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from router.db import driver_connection
from router.jsontext import compact_json, standard_json
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
    CALL_ENDED = "call_ended"
    # The queue's time rules (router.routing.overdue): the owner left or did not answer in
    # time, or the conversation waited past its queue's limit.
    REQUEUED = "requeued"
    REPLY_OVERDUE = "reply_overdue"
    OVERFLOWED = "overflowed"
    # Its customer absorbed into another, or given back by undoing that merge.
    CUSTOMER_MERGED = "customer_merged"
    CUSTOMER_UNMERGED = "customer_unmerged"
    REPLY_FAILED = "reply_failed"
    REPLY_RETRIED = "reply_retried"
    # An SLA clock (router.service_levels) is about to run out, or ran out, unmet.
    SLA_AT_RISK = "sla.at_risk"
    SLA_BREACHED = "sla.breached"


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

    async def flush(self, session: AsyncSession, *, hold: Change | None = None) -> None:
        """Write the collected changes (and their outbox copies) in the caller's transaction.

        One statement whatever the number of changes (the history rows and their outbox
        copies together, in one round trip); each change's details are encoded to JSON once,
        for its row and its outbox event alike. Changes of the `hold` kind are encoded now but
        kept for the next flush (routing writes its offers last, after claiming their slots,
        and keeps its locks for as short as it can).
        """
        for row in self.rows:
            if "encoded" not in row:
                row["encoded"] = compact_json(row["details"])
                row["event"] = (
                    _cloud_event(row, row["encoded"]) if self.events_topic is not None else b""
                )
        held = [row for row in self.rows if hold is not None and row["kind"] == hold.value]
        rows = [row for row in self.rows if hold is None or row["kind"] != hold.value]
        self.rows = held
        if not rows:
            return
        columns = (
            [row["conversation_id"] for row in rows],
            [row["kind"] for row in rows],
            [row["actor_kind"] for row in rows],
            [row["actor_id"] for row in rows],
            [row["agent_id"] for row in rows],
            [row["queue_id"] for row in rows],
            [row["reason"] for row in rows],
            [row["encoded"] for row in rows],
            [row["occurred_at"] for row in rows],
        )
        connection = await driver_connection(session)
        if self.events_topic is None:
            await connection.execute(_INSERT_EVENTS, *columns)
        else:
            # The history rows and their outbox copies in one statement: one round trip.
            await connection.execute(
                _INSERT_EVENTS_AND_OUTBOX,
                *columns,
                self.events_topic,
                [str(row["conversation_id"]).encode() for row in rows],
                [row["event"] for row in rows],
            )
        for change, count in Counter(row["kind"] for row in rows).items():
            CHANGES.labels(change).inc(count)


_INSERT_EVENTS = """
INSERT INTO conversation_events
    (conversation_id, kind, actor_kind, actor_id, agent_id, queue_id, reason, details, occurred_at)
SELECT c, k, ak, ai, ag, q, r, d::jsonb, t
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::text[],
            $8::text[], $9::timestamptz[]) WITH ORDINALITY AS u(c, k, ak, ai, ag, q, r, d, t, n)
ORDER BY n
"""
_INSERT_EVENTS_AND_OUTBOX = f"""
WITH history AS ({_INSERT_EVENTS})
INSERT INTO outbox (topic, key, value)
SELECT $10, k, v FROM unnest($11::bytea[], $12::bytea[]) WITH ORDINALITY AS u(k, v, n)
ORDER BY n
"""


# CloudEvents ids need only be unique per source: a random prefix per process and a counter
# are, and cost nothing next to a fresh UUID per event.
_EVENT_ID_PREFIX = uuid.uuid4().hex
_event_numbers = itertools.count(1)


def _cloud_event(row: dict[str, Any], details: str) -> bytes:
    """The change as a CloudEvents 1.0 JSON document; `details` is already JSON."""
    conversation = str(row["conversation_id"])
    occurred = row["occurred_at"]
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"{_EVENT_ID_PREFIX}-{next(_event_numbers)}",
        "source": "/router",
        "type": f"router.conversation.{row['kind']}",
        "time": occurred,
        "subject": conversation,
        "datacontenttype": "application/json",
        "data": {
            "conversation_id": conversation,
            "change": row["kind"],
            "actor": {"kind": row["actor_kind"], "id": row["actor_id"]},
            "agent_id": row["agent_id"],
            "queue_id": row["queue_id"],
            "reason": row["reason"],
            "details": orjson.Fragment(details),
            "occurred_at": occurred,
        },
    }
    try:
        # Ids read by asyncpg are its own UUID type, which orjson writes through `str`.
        return orjson.dumps(document, default=str)
    except orjson.JSONEncodeError:  # text orjson refuses, such as a lone surrogate
        document["data"]["details"] = json.loads(details)
        return standard_json(document).encode()
