"""Reading the numbers: the load generator's records, the database, the consumer group."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.stack import Database
from bench.stats import latencies, per_second

COUNTS = (
    "SELECT (SELECT count(*) FROM messages WHERE direction = 'inbound'),"
    " (SELECT count(*) FROM conversations WHERE status = 'open' AND agent_id IS NULL)"
)
# What the database's sessions of this run are doing: on CPU, waiting for a lock, or holding
# a transaction open while the application thinks ("idle in transaction").
ACTIVITY = """
SELECT CASE WHEN state = 'idle in transaction' THEN 'idle in transaction (app)'
            WHEN wait_event_type IS NULL THEN 'running'
            ELSE wait_event_type || ':' || wait_event END AS doing, count(*)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND state IN ('active', 'idle in transaction')
GROUP BY 1
"""
# Each inbound message's conversation, when it was first offered, and whether it waited in
# its queue for a free agent before that (routing records `queued`, "waiting in <queue>: ...",
# when no agent could take it).
FIRST_OFFERS = """
SELECT m.provider, m.provider_message_id, m.conversation_id,
       extract(epoch FROM f.first_offer) AS first_offer, f.waited
FROM messages m
JOIN (SELECT o.conversation_id, o.first_offer,
             EXISTS (SELECT 1 FROM conversation_events w
                     WHERE w.conversation_id = o.conversation_id AND w.kind = 'queued'
                       AND w.reason LIKE 'waiting in %' AND w.occurred_at <= o.first_offer)
               AS waited
      FROM (SELECT conversation_id, min(occurred_at) AS first_offer
            FROM conversation_events WHERE kind = 'offered' GROUP BY conversation_id) o) f
  ON f.conversation_id = m.conversation_id
WHERE m.direction = 'inbound'
"""


def http_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """Accepted webhooks/s, answer latency and its per-second series from one load run.

    Open loop (fixed rate): the requests scheduled inside the measured window, latency from
    the scheduled time. Closed loop (max): the answers completed inside the window, latency
    from the send.
    """
    plan, records = result["plan"], result["records"]
    start, end = result["measure_from"], result["end"]
    duration = end - start
    fixed = plan["mode"] == "rate"
    anchor = records["sched"] if fixed else records["done"]
    chosen = [i for i, at in enumerate(anchor) if start <= at < end]
    statuses = Counter(records["status"][i] for i in chosen)
    ok = [i for i in chosen if records["status"][i] == 200]
    latency_ms = [(records["done"][i] - records["sched"][i]) * 1000 for i in ok]
    service_ms = [(records["done"][i] - records["sent"][i]) * 1000 for i in ok]
    by_source: dict[str, list[float]] = {}
    for i in ok:
        name = result["sources"][records["source"][i]]
        by_source.setdefault(name, []).append((records["done"][i] - records["sched"][i]) * 1000)
    timeline_start = result["start"]
    accepted_times = [records["done"][i] for i, s in enumerate(records["status"]) if s == 200]
    latency_all = [
        (records["done"][i] - records["sched"][i]) * 1000
        for i, s in enumerate(records["status"])
        if s == 200
    ]
    sched_ok = [records["sched"][i] for i, s in enumerate(records["status"]) if s == 200]
    loadgen_wall = result["finished"] - result["start"]
    return {
        "mode": plan["mode"],
        "target_rate": plan["rate"] if fixed else None,
        "duration_s": round(duration, 2),
        "accepted_per_s": round(len(ok) / duration, 1),
        "answered": len(chosen),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": latencies(latency_ms),
        "service_time_ms": latencies(service_ms),
        "latency_ms_by_source": {k: latencies(v) for k, v in sorted(by_source.items())},
        "loadgen": {
            "cpu_cores": round(result["cpu_seconds"] / loadgen_wall, 3),
            "connections_opened": result["connects"],
            "requests_built_during_run": result["built_live"],
        },
        "timeline": {
            "accepted": per_second(accepted_times, timeline_start, result["finished"]),
            "latency": per_second(sched_ok, timeline_start, result["finished"], latency_all),
        },
        "messages_accepted": result["messages_accepted"],
    }


@dataclass
class RoutedCounter:
    """Polls how many inbound messages are stored, and how many conversations wait."""

    database: Database
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    activity: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._connection = await self.database.connect()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            routed, waiting = await self._connection.fetchrow(COUNTS)
            now = time.time()
            self.samples.append((now, routed, waiting))
            rows = await self._connection.fetch(ACTIVITY)
            self.activity.append((now, {row["doing"]: row["count"] for row in rows}))
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._connection.close()

    @property
    def routed(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    @property
    def waiting(self) -> int:
        return self.samples[-1][2] if self.samples else 0

    def at(self, moment: float) -> int:
        """Messages stored at a wall-clock moment (the last sample before it)."""
        found = 0
        for at, routed, _ in self.samples:
            if at > moment:
                break
            found = routed
        return found

    async def wait_for(self, expected: int, *, within: float, on_tick: Any = None) -> float | None:
        """Wait until `expected` messages are stored; the wall time they were, or None."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.routed >= expected:
                return next(at for at, routed, _ in self.samples if routed >= expected)
            if on_tick is not None:
                on_tick()
            await asyncio.sleep(0.25)
        return None

    def sessions(self, start: float, end: float) -> dict[str, float]:
        """Mean number of the run's database sessions per activity in the window."""
        window = [doing for at, doing in self.activity if start <= at <= end]
        totals: Counter[str] = Counter()
        for doing in window:
            totals.update(doing)
        ranked = sorted(totals.items(), key=lambda item: -item[1])
        return {name: round(count / max(1, len(window)), 2) for name, count in ranked}

    def timeline(self, start: float, end: float) -> list[dict[str, float]]:
        """Messages routed per second and conversations waiting, from the samples."""
        found = []
        previous: tuple[float, int, int] | None = None
        for sample in self.samples:
            if not start <= sample[0] <= end:
                continue
            if previous is not None:
                rate = (sample[1] - previous[1]) / max(1e-6, sample[0] - previous[0])
                found.append(
                    {
                        "t": round(sample[0] - start, 2),
                        "routed_per_s": round(rate, 1),
                        "waiting": sample[2],
                    }
                )
            previous = sample
        return found


async def assignment_latency(
    database: Database, opens: list[list[Any]], observed: dict[str, float]
) -> dict[str, Any]:
    """Webhook sent -> first `offered` event, and -> the agent saw the offer (milliseconds).

    `to_offer_ms` counts every conversation; `to_offer_free_agent_ms` only those offered on
    arrival, without waiting in their queue for an agent to free a slot: the router's own
    latency, apart from how quickly the team works through its conversations.
    """
    connection = await database.connect()
    try:
        rows = await connection.fetch(FIRST_OFFERS)
    finally:
        await connection.close()
    offers = {
        (row["provider"], row["provider_message_id"]): (
            str(row["conversation_id"]),
            float(row["first_offer"]),
            bool(row["waited"]),
        )
        for row in rows
    }
    offered_ms, free_agent_ms, seen_ms, sent_at, missing = [], [], [], [], 0
    for provider, message_id, sent in opens:
        found = offers.get((provider, message_id))
        if found is None:
            missing += 1
            continue
        conversation, first_offer, waited = found
        offered_ms.append((first_offer - sent) * 1000)
        if not waited:
            free_agent_ms.append(offered_ms[-1])
        sent_at.append(sent)
        if conversation in observed:
            seen_ms.append((observed[conversation] - sent) * 1000)
    return {
        "opened": len(opens),
        "not_offered": missing,
        "waited_for_an_agent": len(offered_ms) - len(free_agent_ms),
        "to_offer_ms": latencies(offered_ms),
        "to_offer_free_agent_ms": latencies(free_agent_ms),
        "to_agent_seen_ms": latencies(seen_ms),
        "_sent": sent_at,
        "_offered_ms": offered_ms,
    }


class GroupOffsets:
    """Reads how many records a consumer group has committed, over all partitions."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        self._group = group
        self._topic = topic
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-offsets")

    async def start(self) -> None:
        await self._admin.start()

    async def committed(self) -> int:
        offsets = await self._admin.list_consumer_group_offsets(self._group)
        return sum(max(0, meta.offset) for tp, meta in offsets.items() if tp.topic == self._topic)

    async def close(self) -> None:
        await self._admin.close()
