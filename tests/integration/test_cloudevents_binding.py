"""Every record the router produces reads back with the CloudEvents SDK's Kafka binding.

Structured content mode: the value is the whole event and the `content-type` header says so.
Each record is read from the real broker and checked against what the SDK itself would write
for the event it reads: the same headers, so any CloudEvents consumer takes our records as
they are.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from aiokafka import ConsumerRecord
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka, to_structured
from cloudevents.core.formats.json import JSONFormat
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.consumer import BatchConsumer, Consumed
from adapters.kafka.dead_letters import read_dead_letters, replay
from adapters.kafka.producer import KafkaPublisher, RecordPublisher
from adapters.kafka.topics import ensure_topics
from router.inbound.envelope import CallStatus, CallUpdate, DeliveryStatus, DeliveryUpdate, decode
from router.inbound.ports import Event
from router.presence.history import record_change
from router.routing.engine import RoutingEngine
from router.routing.runner import relay_outbox
from router.settings import Settings
from tests import factories, seed
from tests.support import read_topic

FORMAT = JSONFormat()


def read_cloud_event(record: ConsumerRecord) -> BaseCloudEvent:
    """The record as the SDK reads it; fails unless its headers are the SDK's own for it."""
    headers = {name: value for name, value in record.headers if not name.startswith("router-")}
    event = from_kafka(KafkaMessage(headers=headers, key=record.key, value=record.value), FORMAT)
    assert headers == to_structured(event, FORMAT).headers
    sent = json.loads(record.value)
    assert (event.get_id(), event.get_type(), event.get_source(), event.get_subject()) == (
        sent["id"],
        sent["type"],
        sent["source"],
        sent["subject"],
    )
    assert event.get_data() == sent["data"]
    return event


async def test_inbound_records_are_structured_cloud_events(settings: Settings) -> None:
    await ensure_topics(settings)
    message = factories.sms("is my order on its way?")
    events: list[Event] = [
        message,
        factories.email(),
        DeliveryUpdate(
            channel=message.channel,
            provider="twilio",
            provider_message_id=f"SM{uuid.uuid4().hex}",
            conversation_key=message.conversation_key,
            status=DeliveryStatus.DELIVERED,
        ),
        CallUpdate(
            provider="twilio",
            provider_message_id=f"CA{uuid.uuid4().hex}",
            conversation_key="voice:+14155550199|+14155550100",
            status=CallStatus.COMPLETED,
            duration_seconds=42,
            call=factories.sms("a call"),
        ),
    ]
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        await publisher.publish(events[:1])  # a webhook's single event
        await publisher.publish(events[1:])
    finally:
        await publisher.close()

    records = await read_topic(settings, settings.topic_inbound, len(events))
    read = {event.get_id(): event for event in map(read_cloud_event, records)}
    assert {(i, e.get_type()) for i, e in read.items()} == {(e.event_id, e.type) for e in events}


async def test_conversation_and_presence_events_are_structured_cloud_events(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await ensure_topics(settings)
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(sessions, "ana", capacity={"sms": 1}, queues=[default])
    await RoutingEngine(sessions, settings).process([factories.sms(), factories.email()])
    async with sessions() as session, session.begin():
        await record_change(
            session,
            agent_id=agent,
            from_presence="online",
            to_presence="away",
            actor="ana",
            reason="lunch",
            changed_at=datetime.now(UTC),
            events_topic=settings.topic_events,
        )
    publisher = RecordPublisher(settings, "binding-test")
    await publisher.start()
    try:
        written = await relay_outbox(sessions, publisher.publish_all)
    finally:
        await publisher.close()

    records = await read_topic(settings, settings.topic_events, written)
    types = {read_cloud_event(record).get_type() for record in records}
    assert types >= {
        "router.conversation.created",
        "router.conversation.offered",
        "router.conversation.queued",
        "router.agent.presence_changed",
    }


async def test_a_replayed_dead_letter_keeps_its_structured_mode_header(settings: Settings) -> None:
    await ensure_topics(settings)
    refused = factories.sms("refused once")
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        await publisher.publish([refused])
    finally:
        await publisher.close()

    async def refuse(batch: Sequence[Consumed[Event]]) -> None:
        raise asyncpg.CheckViolationError("the database refuses this content")

    consumer: BatchConsumer[Event] = BatchConsumer(settings, decode=decode, apply=refuse)
    await consumer.start()
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        deadline = time.monotonic() + 60
        while consumer.stats.dead_lettered < 1:
            assert time.monotonic() < deadline, consumer.stats
            assert not running.done(), running
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await running
        await consumer.stop()
    [letter] = await read_dead_letters(settings)
    assert letter.header("content-type") == "application/cloudevents+json"

    await replay(settings, [letter])
    original, replayed = await read_topic(settings, settings.topic_inbound, 2)
    assert replayed.value == original.value
    assert read_cloud_event(replayed).get_id() == refused.event_id
