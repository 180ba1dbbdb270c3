"""The consumer waits out the world's errors: a database outage dead-letters nothing.

`router consume` reaches the real PostgreSQL through a TCP relay the test cuts for longer
than any fixed retry budget would last, while records keep arriving on the real broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.consumer import BatchConsumer, Consumed
from adapters.kafka.dead_letters import read_dead_letters
from adapters.kafka.producer import KafkaPublisher
from adapters.kafka.topics import ensure_topics
from devstack.net import free_port
from router.inbound.envelope import InboundMessage, decode
from router.inbound.ports import Event
from router.models import Message
from router.settings import Settings
from tests import factories
from tests.integration.routers import RouterProcess
from tests.relay import Relay, relayed_url

OUTAGE_SECONDS = 6.0  # more than twice the ~2.4 s a fixed three-attempt budget lasted


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        ids = await session.scalars(select(Message.provider_message_id))
        return [value for value in ids if value is not None]


async def _wait_stored(
    sessions: async_sessionmaker[AsyncSession], count: int, seconds: float
) -> list[str]:
    deadline = time.monotonic() + seconds
    stored: list[str] = []
    while time.monotonic() < deadline:
        stored = await _stored(sessions)
        if len(stored) >= count:
            return stored
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(stored)} of {count} messages stored")


async def _readiness(port: int) -> tuple[int, dict[str, str]]:
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/readyz")
    except httpx.TransportError:
        return 0, {}
    return answer.status_code, answer.json().get("checks", {})


async def _metric(port: int, name: str) -> float | None:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def _publish(settings: Settings, events: Sequence[InboundMessage]) -> None:
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        await publisher.publish(events)
    finally:
        await publisher.close()


async def test_a_database_outage_is_waited_out_and_every_record_is_stored_once(
    settings: Settings,
    database_url: str,
    relay: Relay,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await ensure_topics(settings)
    port = free_port()
    through_relay = settings.model_copy(
        update={
            "database_url": SecretStr(relayed_url(database_url, relay)),
            "consumer_http_port": port,
            "consumer_backoff_max_seconds": 1.0,
        }
    )
    before = [factories.sms(f"before {i}", sender=f"+1415555{i:04d}") for i in range(20)]
    during = [factories.sms(f"during {i}", sender=f"+1415666{i:04d}") for i in range(30)]
    router = RouterProcess(through_relay, tmp_path / "router.log")
    try:
        deadline = time.monotonic() + 60
        while (await _readiness(port))[0] != 200:
            assert time.monotonic() < deadline, router.output()
            await asyncio.sleep(0.2)
        await _publish(settings, before)
        await _wait_stored(sessions, len(before), 60)

        await relay.cut()
        cut_at = time.monotonic()
        await _publish(settings, during)  # Kafka has them; the database is gone
        reasons: list[str] = []
        while time.monotonic() - cut_at < OUTAGE_SECONDS:
            status, checks = await _readiness(port)
            assert status == 503, (status, checks)
            reasons.append(checks.get("consumer", ""))
            await asyncio.sleep(0.5)
        assert any("waiting out database-unreachable" in reason for reason in reasons), reasons
        assert await _metric(port, "router_consumer_waiting") == 1.0
        assert len(await _stored(sessions)) == len(before)

        await relay.start()  # the same port: the database is back
        stored = await _wait_stored(sessions, len(before) + len(during), 60)
        deadline = time.monotonic() + 15
        while (await _readiness(port))[0] != 200:
            assert time.monotonic() < deadline, router.output()
            await asyncio.sleep(0.2)
        assert await _metric(port, "router_consumer_waiting") == 0.0
        waits = await _metric(port, 'router_consumer_waits_total{kind="database-unreachable"}')
        assert waits is not None
        assert waits >= 1
    finally:
        code = await asyncio.to_thread(router.terminate)
    assert code == 0, router.output()
    assert sorted(stored) == sorted(e.provider_message_id for e in before + during)
    assert await read_dead_letters(settings) == []


async def _committed(settings: Settings) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.consumer_group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def test_a_rebalance_while_waiting_neither_deadlocks_nor_applies_lost_partitions(
    settings: Settings,
) -> None:
    """A member waiting out an outage gives partitions up at once and never applies theirs."""
    settings = settings.model_copy(update={"consumer_backoff_max_seconds": 0.5})
    await ensure_topics(settings)
    events = [factories.sms(f"event {i}", sender=f"+1415777{i:04d}") for i in range(40)]
    await _publish(settings, events)

    outage = True
    first_applied: list[tuple[int, str]] = []
    second_applied: list[str] = []
    applied_elsewhere: list[set[int]] = []  # partitions applied while not held: must stay empty
    first: BatchConsumer[Event]

    async def apply_first(batch: Sequence[Consumed[Event]]) -> None:
        if outage:
            raise ConnectionRefusedError(111, "Connection refused")
        first_applied.extend((item.partition, item.value.event_id) for item in batch)
        not_held = {item.partition for item in batch} - first.assigned_partitions()
        if not_held:
            applied_elsewhere.append(not_held)

    async def apply_second(batch: Sequence[Consumed[Event]]) -> None:
        second_applied.extend(item.value.event_id for item in batch)

    first = BatchConsumer(settings, decode=decode, apply=apply_first)
    second: BatchConsumer[Event] = BatchConsumer(settings, decode=decode, apply=apply_second)
    stop = asyncio.Event()
    await first.start()
    tasks = [asyncio.create_task(first.run(stop))]
    try:
        deadline = time.monotonic() + 30
        while first.stats.waiting is None:
            assert time.monotonic() < deadline, "the first member never fetched its records"
            await asyncio.sleep(0.1)
        await second.start()
        tasks.append(asyncio.create_task(second.run(stop)))
        deadline = time.monotonic() + 30
        while not (second.assigned_partitions() and first.assigned_partitions()):
            assert time.monotonic() < deadline, "the rebalance did not finish while waiting"
            await asyncio.sleep(0.1)
        # The first member gave partitions up while it waited. It may have lost every record
        # of its batch to the second meanwhile (then it has nothing left to wait for), so
        # whether it still waits depends on how the group split the partitions: not checked.
        outage = False
        deadline = time.monotonic() + 30
        applied = {event_id for _, event_id in first_applied} | set(second_applied)
        while applied != {event.event_id for event in events}:
            assert time.monotonic() < deadline, f"{len(applied)} of {len(events)} applied"
            await asyncio.sleep(0.1)
            applied = {event_id for _, event_id in first_applied} | set(second_applied)
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await first.stop()
        await second.stop()
    assert applied_elsewhere == []
    assert first.stats.waiting is None
    assert first.stats.dead_lettered == second.stats.dead_lettered == 0
    assert sum((await _committed(settings)).values()) == len(events)
