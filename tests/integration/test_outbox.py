"""Conversation changes reach `router.events.v1` after their transaction commits."""

from __future__ import annotations

import json

from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.producer import RecordPublisher
from adapters.kafka.topics import ensure_topics
from router.models import Conversation, OutboxEvent
from router.routing.engine import RoutingEngine
from router.routing.runner import relay_outbox
from router.settings import Settings
from tests import factories
from tests.support import read_topic


async def test_changes_are_published_in_order_keyed_by_conversation(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ensure_topics(settings)
    await RoutingEngine(sessions, settings).process([factories.email(), factories.sms()])
    async with sessions() as session:
        written = await session.scalar(select(func.count()).select_from(OutboxEvent))
        conversations = set((await session.scalars(select(Conversation.id))).all())
    assert written

    publisher = RecordPublisher(settings, "outbox-test")
    await publisher.start()
    try:
        assert await relay_outbox(sessions, publisher.publish_all) == written
        assert await relay_outbox(sessions, publisher.publish_all) == 0  # published once only
    finally:
        await publisher.close()
    async with sessions() as session:
        # Published rows leave the outbox; the history keeps the record.
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0

    found = await read_topic(settings, settings.topic_events, written)
    events = [json.loads(record.value) for record in found]
    assert {event["type"] for event in events} >= {
        "router.conversation.created",
        "router.conversation.queued",
    }
    assert {event["subject"] for event in events} == {str(c) for c in conversations}
    for record, event in zip(found, events, strict=True):
        assert record.key == event["subject"].encode()
        assert event["specversion"] == "1.0"
    per_conversation: dict[str, list[str]] = {}
    for event in events:
        per_conversation.setdefault(event["subject"], []).append(event["data"]["change"])
    assert all(changes[0] == "created" for changes in per_conversation.values())


async def test_published_batches_keep_the_producers_partitioning_and_order(
    settings: Settings,
) -> None:
    """Whole batches per partition: each key where the producer's partitioner puts it."""
    await ensure_topics(settings)
    topic = settings.topic_events
    keys = [f"conversation-{n}".encode() for n in range(7)]
    # One record larger than a whole batch (a decision's audit over a large team can be).
    records = [
        (topic, keys[n % 7], f"{n:05d}".encode() + b"x" * (40_000 if n == 9 else 2_000))
        for n in range(400)
    ]
    publisher = RecordPublisher(settings, "batch-test")
    await publisher.start()
    try:
        await publisher.publish_all(records)
    finally:
        await publisher.close()

    found = await read_topic(settings, topic, len(records))
    partitions = list(range(settings.topic_partitions))  # as ensure_topics made them
    for key in keys:
        expected = DefaultPartitioner()(key, partitions, partitions)
        arrived = [record for record in found if record.key == key]
        assert {record.partition for record in arrived} == {expected}
        assert [record.value for record in arrived] == [v for _, k, v in records if k == key]
