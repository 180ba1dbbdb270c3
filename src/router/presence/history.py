"""Recording and reading presence changes.

A change is recorded in the transaction that changes the agent row, by whoever makes it,
with the same clock its offers' events use. When Kafka carries the events, the change is
also queued in the outbox as a `router.agent.presence_changed` CloudEvent on the events
topic (key: the agent id), published once the transaction has committed.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.console import cursor
from router.models import OutboxEvent, PresenceChange

EVENT_TYPE = "router.agent.presence_changed"
_ACTOR_MAX = 200

_EVENT_ID_PREFIX = uuid.uuid4().hex
_event_numbers = itertools.count(1)


async def record_change(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    from_presence: str,
    to_presence: str,
    actor: str,
    reason: str | None,
    changed_at: datetime,
    events_topic: str | None,
) -> PresenceChange:
    """Append one presence change (and its outbox event when `events_topic` is given)."""
    change = PresenceChange(
        agent_id=agent_id,
        from_presence=from_presence,
        to_presence=to_presence,
        actor=actor[:_ACTOR_MAX],
        reason=reason,
        changed_at=changed_at,
    )
    session.add(change)
    await session.flush()
    if events_topic is not None:
        session.add(
            OutboxEvent(topic=events_topic, key=str(agent_id).encode(), value=cloud_event(change))
        )
        await session.flush()
    return change


def cloud_event(change: PresenceChange) -> bytes:
    """The change as a CloudEvents 1.0 JSON document."""
    agent = str(change.agent_id)
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{_EVENT_ID_PREFIX}-{next(_event_numbers)}",
            "source": "/router",
            "type": EVENT_TYPE,
            "time": change.changed_at,
            "subject": agent,
            "datacontenttype": "application/json",
            "data": {
                "agent_id": agent,
                "change_id": change.id,
                "from": change.from_presence,
                "to": change.to_presence,
                "actor": change.actor,
                "reason": change.reason,
                "changed_at": change.changed_at,
            },
        }
    )


@dataclass(frozen=True)
class HistoryWindow:
    """Which changes a page covers: from `since` (inclusive) to `until` (exclusive)."""

    since: datetime | None = None
    until: datetime | None = None


async def page(
    session: AsyncSession,
    agent_id: uuid.UUID,
    window: HistoryWindow,
    after: str | None,
    limit: int,
) -> tuple[list[PresenceChange], str | None]:
    """One page of the agent's changes, newest first, after the cursor; and the next cursor.

    Newest means most recently recorded: an agent's changes are written under the lock of
    their row, one after the other, so the ids keep their order.
    """
    conditions: list[ColumnElement[bool]] = [PresenceChange.agent_id == agent_id]
    if window.since is not None:
        conditions.append(PresenceChange.changed_at >= window.since)
    if window.until is not None:
        conditions.append(PresenceChange.changed_at < window.until)
    if after is not None:
        conditions.append(PresenceChange.id < cursor.decode_int(after))
    rows = list(
        (
            await session.scalars(
                select(PresenceChange)
                .where(*conditions)
                .order_by(PresenceChange.id.desc())
                .limit(limit + 1)
            )
        ).all()
    )
    following = cursor.encode(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], following
