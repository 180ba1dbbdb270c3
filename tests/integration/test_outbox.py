"""Conversation changes reach `router.events.v1` after their transaction commits."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.producer import RecordPublisher
from adapters.kafka.topics import ensure_topics
from router.models import Conversation, OutboxEvent
from router.routing.engine import RoutingEngine
from router.routing.runner import relay_outbox
from router.settings import Settings
from tests import factories


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

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(settings.topic_events, p) for p in range(4)])
        found = []
        while len(found) < written:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"only {len(found)} of {written} events arrived"
            found.extend(record for records in batch.values() for record in records)
    finally:
        await consumer.stop()
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
