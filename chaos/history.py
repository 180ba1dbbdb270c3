"""Reading the run's history from PostgreSQL and Kafka, and the checks that need them live.

Each history row is timed by its transaction's commit (`track_commit_timestamp`, switched
on by the harness's PostgreSQL), falling back to the row's own time where the server kept
none.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from chaos.checks import (
    Answered,
    Event,
    Finding,
    PresenceChange,
    capacity,
    offers_to_online,
    ownership,
    stored_once,
)

_EVENTS = """
SELECT e.id, e.conversation_id::text AS conversation_id, e.kind, e.agent_id::text AS agent_id,
       e.details::text AS details, c.channel,
       coalesce(pg_xact_commit_timestamp(e.xmin), e.occurred_at) AS at
FROM conversation_events AS e JOIN conversations AS c ON c.id = e.conversation_id
"""
_PRESENCE = """
SELECT agent_id::text AS agent_id, from_presence, to_presence,
       coalesce(pg_xact_commit_timestamp(xmin), changed_at) AS at
FROM presence_changes
"""
_STORED = """
SELECT provider, provider_message_id, count(*) AS n FROM messages
WHERE direction = 'inbound' AND provider_message_id IS NOT NULL GROUP BY 1, 2
"""
# Real holds (open conversations with an owner) per agent and channel, against capacity:
# a counter that drifted from them would hide a free slot or invent one.
_HELD = """
WITH held AS (
    SELECT agent_id, channel, count(*) AS n FROM conversations
    WHERE status = 'open' AND agent_id IS NOT NULL GROUP BY 1, 2
)
SELECT k.agent_id::text AS agent_id, k.channel, k.capacity, k.active, coalesce(h.n, 0) AS held
FROM agent_capacities AS k LEFT JOIN held AS h ON h.agent_id = k.agent_id AND h.channel = k.channel
"""
# Waiting conversations some online member of their queue has a free slot for.
_STRANDED = """
WITH held AS (
    SELECT agent_id, channel, count(*) AS n FROM conversations
    WHERE status = 'open' AND agent_id IS NOT NULL GROUP BY 1, 2
)
SELECT c.id::text AS conversation_id, c.channel, c.waiting_since,
       c.excluded_agents::text AS excluded, array_agg(a.handle ORDER BY a.handle) AS free_agents
FROM conversations AS c
JOIN queues AS q ON q.id = c.queue_id
JOIN queue_agents AS qa ON qa.queue_id = c.queue_id
JOIN agents AS a ON a.id = qa.agent_id AND a.presence = 'online'
    AND (q.language IS NULL OR q.language = ANY(a.languages))
JOIN agent_capacities AS k ON k.agent_id = a.id AND k.channel = c.channel
LEFT JOIN held AS h ON h.agent_id = a.id AND h.channel = c.channel
WHERE c.status = 'open' AND c.agent_id IS NULL AND coalesce(h.n, 0) < k.capacity
GROUP BY c.id, c.channel, c.waiting_since, c.excluded_agents
"""


async def _events(connection: asyncpg.Connection) -> list[Event]:
    rows = await connection.fetch(_EVENTS)
    return [
        Event(
            id=row["id"],
            conversation_id=row["conversation_id"],
            kind=row["kind"],
            agent_id=row["agent_id"],
            at=row["at"],
            channel=row["channel"],
            details=json.loads(row["details"]) if row["details"] else {},
        )
        for row in rows
    ]


async def history_findings(
    connection: asyncpg.Connection, answers: Sequence[Answered]
) -> list[Finding]:
    """Checks 1 to 4 over the whole history."""
    stored = {
        (row["provider"], row["provider_message_id"]): row["n"]
        for row in await connection.fetch(_STORED)
    }
    events = await _events(connection)
    holds, owners = ownership(events)
    held = await connection.fetch(_HELD)
    limits = {(row["agent_id"], row["channel"]): row["capacity"] for row in held}
    within = capacity(holds, limits)
    for row in held:
        if row["active"] != row["held"]:
            within.add(
                f"agent {row['agent_id'][:8]} on {row['channel']}: counter says "
                f"{row['active']} active, {row['held']} open conversations held"
            )
    current = {row["id"]: row["presence"] for row in await connection.fetch(_AGENTS)}
    if await connection.fetchval("SELECT to_regclass('presence_changes')") is None:
        online = Finding("4. offers only to online agents")
        online.add("table presence_changes is missing: offers cannot be joined to presence")
    else:
        changes = [
            PresenceChange(row["agent_id"], row["from_presence"], row["to_presence"], row["at"])
            for row in await connection.fetch(_PRESENCE)
        ]
        online = offers_to_online(events, changes, current)
        online.note = f"{len(changes)} presence changes"
    owners.note = f"{len({e.conversation_id for e in events})} conversations, {len(events)} events"
    within.note = f"{len(holds)} holds"
    delivered = stored_once(answers, stored)
    delivered.note = f"{sum(a.accepted for a in answers)} messages answered 2xx"
    return [delivered, owners, within, online]


_AGENTS = "SELECT id::text AS id, presence FROM agents"
_FREE_SLOTS = """
SELECT coalesce(sum(k.capacity - least(k.capacity, (
    SELECT count(*) FROM conversations AS c
    WHERE c.status = 'open' AND c.agent_id = k.agent_id AND c.channel = k.channel
))), 0)
FROM agent_capacities AS k JOIN agents AS a ON a.id = k.agent_id AND a.presence = 'online'
"""


async def stranded(connection: asyncpg.Connection, apart: float) -> Finding:
    """Check 5: waiting conversations a free online agent could take, still so `apart` later.

    Read twice, so a conversation the sweep is about to offer is not taken for stranded.
    """
    finding = Finding("5. nothing stranded")
    first = {row["conversation_id"] for row in await connection.fetch(_STRANDED)}
    await asyncio.sleep(apart)
    rows = [r for r in await connection.fetch(_STRANDED) if r["conversation_id"] in first]
    waiting = await connection.fetchval(
        "SELECT count(*) FROM conversations WHERE status = 'open' AND agent_id IS NULL"
    )
    free = await connection.fetchval(_FREE_SLOTS)
    finding.note = (
        f"{waiting} waiting, {len(rows)} of them with a free online agent; "
        f"{free} free slots of online agents"
    )
    now: datetime = await connection.fetchval("SELECT now()")
    for row in rows:
        finding.add(
            f"conversation {row['conversation_id'][:8]} ({row['channel']}) waiting "
            f"{(now - row['waiting_since']).total_seconds():.0f} s, free: "
            f"{', '.join(row['free_agents'][:4])}; excluded {_excluded(row['excluded'])}"
        )
    return finding


def _excluded(raw: str | None) -> str:
    found: dict[str, Any] = json.loads(raw) if raw else {}
    reasons: dict[str, int] = {}
    for reason in found.values():
        reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    return ", ".join(f"{n} {reason}" for reason, n in reasons.items()) or "none"


async def _partitions(bootstrap: str, topic: str) -> list[Any]:
    """The topic's partitions as `TopicPartition`s (none when it does not exist)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [
        TopicPartition(topic, partition["partition"])
        for found in described
        if found.get("error_code", 0) == 0
        for partition in found.get("partitions", [])
    ]


async def dead_letters(bootstrap: str, topic: str) -> Finding:
    """Check 6: the dead-letter topic holds no record."""
    from aiokafka import AIOKafkaConsumer

    finding = Finding("6. dead-letter topic empty")
    partitions = await _partitions(bootstrap, topic)
    if not partitions:
        finding.note = "topic not created"
        return finding
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        first = await consumer.beginning_offsets(partitions)
        last = await consumer.end_offsets(partitions)
        total = sum(last[p] - first[p] for p in partitions)
        finding.violations = total
        finding.note = f"{total} records"
        if total:
            consumer.assign(partitions)
            for partition in partitions:
                consumer.seek(partition, first[partition])
            batch = await consumer.getmany(timeout_ms=5_000, max_records=5)
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode(errors="replace")[:160] for k, v in record.headers}
                    finding.examples.append(f"partition {record.partition}: {headers}")
    finally:
        # Stopping a consumer that fetched cancels its own tasks; that is not ours to re-raise.
        await asyncio.gather(consumer.stop(), return_exceptions=True)
    return finding


async def consumer_lag(bootstrap: str, topic: str, group: str) -> int:
    """Records of `topic` the group has not committed yet (all of them when it has none)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    partitions = await _partitions(bootstrap, topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        last = await consumer.end_offsets(partitions)
        return sum(
            last[p] - (committed[p].offset if p in committed and committed[p].offset >= 0 else 0)
            for p in partitions
        )
    finally:
        await asyncio.gather(consumer.stop(), return_exceptions=True)
        await admin.close()
