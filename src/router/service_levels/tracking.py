"""Keeps each conversation's SLA clocks in step with what happens to it.

`follow` is called in the transaction that changed some conversations (a routing batch, an
agent's reply, a resolve, a reopening, a transfer), after their rows are written: it reads
the facts of all of them in one statement and writes every clock that changed in one more,
whatever their number. Before any SLA policy was ever published it reads one row and stops.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from router.db import driver_connection
from router.routing.hours import BusinessHours
from router.service_levels.policy import (
    Calendar,
    SlaFacts,
    SlaPolicyDocument,
    Target,
    policy_for,
)
from router.service_levels.state import ConversationFacts, SlaRow, settle
from router.settings import Settings

_ACTIVE_POLICY = "SELECT version, document::text FROM sla_policies WHERE active"


@lru_cache(maxsize=8)
def _document(text: str) -> SlaPolicyDocument:
    """The active policy, read once per text rather than once per routing batch."""
    return SlaPolicyDocument.model_validate_json(text)


_FACTS = """
SELECT c.id, c.status, c.channel, c.priority, c.created_at, c.resolved_at,
       c.awaiting_reply_since, q.name, nullif(q.business_hours, 'null'::jsonb)::text,
       CASE WHEN jsonb_typeof(cu.attributes -> 'tier') = 'string'
            THEN cu.attributes ->> 'tier' END,
       a.first_at, a.last_at,
       s.target, s.policy_name, s.policy_version, s.target_seconds, s.calendar, s.started_at,
       s.due_at, s.met_at, s.breached_at, s.at_risk_from, s.at_risk_at, s.paused_since,
       s.paused_seconds
FROM conversations AS c
JOIN customers AS cu ON cu.id = c.customer_id
LEFT JOIN queues AS q ON q.id = c.queue_id
LEFT JOIN LATERAL (
    SELECT min(m.created_at) AS first_at, max(m.created_at) AS last_at
    FROM messages AS m
    WHERE m.conversation_id = c.id AND m.direction = 'outbound'
) AS a ON true
LEFT JOIN conversation_slas AS s ON s.conversation_id = c.id
WHERE c.id = ANY($1::uuid[])
"""

_UPSERT = """
INSERT INTO conversation_slas AS s
    (conversation_id, target, policy_name, policy_version, target_seconds, calendar,
     started_at, due_at, met_at, breached_at, at_risk_from, at_risk_at, paused_since,
     paused_seconds)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[], $11::timestamptz[], $12::timestamptz[],
                     $13::timestamptz[], $14::int[])
ON CONFLICT (conversation_id, target) DO UPDATE SET
    policy_name = excluded.policy_name, policy_version = excluded.policy_version,
    target_seconds = excluded.target_seconds, calendar = excluded.calendar,
    started_at = excluded.started_at, due_at = excluded.due_at, met_at = excluded.met_at,
    breached_at = excluded.breached_at, at_risk_from = excluded.at_risk_from,
    at_risk_at = excluded.at_risk_at, paused_since = excluded.paused_since,
    paused_seconds = excluded.paused_seconds
"""

_DROP = """
DELETE FROM conversation_slas AS s
USING unnest($1::uuid[], $2::text[]) AS d(conversation_id, target)
WHERE s.conversation_id = d.conversation_id AND s.target = d.target AND s.met_at IS NULL
"""


class _Conversation:
    __slots__ = ("facts", "match", "stored")

    def __init__(self, facts: ConversationFacts, match: SlaFacts) -> None:
        self.facts = facts
        self.match = match
        self.stored: dict[Target, SlaRow] = {}


def _stored_row(conversation_id: uuid.UUID, row: Any) -> SlaRow:
    return SlaRow(
        conversation_id=conversation_id,
        target=Target(row[12]),
        policy_name=row[13],
        policy_version=row[14],
        target_seconds=row[15],
        calendar=Calendar(row[16]),
        started_at=row[17],
        due_at=row[18],
        met_at=row[19],
        breached_at=row[20],
        at_risk_from=row[21],
        at_risk_at=row[22],
        paused_since=row[23],
        paused_seconds=row[24],
    )


async def follow(
    session: AsyncSession,
    conversation_ids: Collection[uuid.UUID],
    settings: Settings,
    now: datetime,
) -> None:
    """Settle the SLA clocks of these conversations after they changed, in the caller's
    transaction (see `router.service_levels.state` for what each clock measures)."""
    if not conversation_ids:
        return
    connection = await driver_connection(session)
    active = await connection.fetchrow(_ACTIVE_POLICY)
    if active is None:
        return
    version = int(active[0])
    document = _document(active[1])
    conversations: dict[uuid.UUID, _Conversation] = {}
    hours: dict[str, BusinessHours | None] = {}
    for row in await connection.fetch(_FACTS, list(set(conversation_ids))):
        found = conversations.get(row[0])
        if found is None:
            queue, schedule = row[7], row[8]
            if queue is not None and queue not in hours:
                hours[queue] = (
                    None if schedule is None else BusinessHours.model_validate_json(schedule)
                )
            found = _Conversation(
                ConversationFacts(
                    id=row[0],
                    open=row[1] == "open",
                    created_at=row[4],
                    resolved_at=row[5],
                    awaiting_reply_since=row[6],
                    first_answer_at=row[10],
                    last_answer_at=row[11],
                    hours=None if queue is None else hours[queue],
                ),
                SlaFacts(queue=queue, channel=row[2], priority=row[3], tier=row[9]),
            )
            conversations[row[0]] = found
        if row[12] is not None:
            stored = _stored_row(row[0], row)
            found.stored[stored.target] = stored
    lead = timedelta(seconds=settings.sla_at_risk_seconds)
    changed: list[SlaRow] = []
    dropped: list[tuple[uuid.UUID, Target]] = []
    for conversation in conversations.values():
        settled = settle(
            conversation.facts,
            policy_for(document, conversation.match),
            version,
            conversation.stored,
            now,
            lead,
        )
        changed.extend(settled.rows)
        dropped.extend((conversation.facts.id, target) for target in settled.dropped)
    if changed:
        await connection.execute(
            _UPSERT,
            [row.conversation_id for row in changed],
            [row.target.value for row in changed],
            [row.policy_name for row in changed],
            [row.policy_version for row in changed],
            [row.target_seconds for row in changed],
            [row.calendar.value for row in changed],
            [row.started_at for row in changed],
            [row.due_at for row in changed],
            [row.met_at for row in changed],
            [row.breached_at for row in changed],
            [row.at_risk_from for row in changed],
            [row.at_risk_at for row in changed],
            [row.paused_since for row in changed],
            [row.paused_seconds for row in changed],
        )
    if dropped:
        await connection.execute(
            _DROP, [cid for cid, _ in dropped], [target.value for _, target in dropped]
        )
