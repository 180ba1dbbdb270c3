"""The Kafka transport is real: produced envelopes come back through a consumer group."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from adapters.kafka.consumer import BatchConsumer, Consumed
from adapters.kafka.producer import KafkaPublisher
from adapters.kafka.topics import ensure_topics
from router.inbound.envelope import InboundMessage, decode, partition_key
from router.inbound.ports import Event
from router.settings import Settings
from tests import factories


async def _committed(settings: Settings) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.consumer_group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def test_topics_are_created_with_the_configured_partitions(settings: Settings) -> None:
    await ensure_topics(settings)
    await ensure_topics(settings)  # idempotent
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        names = [settings.topic_inbound, settings.topic_events, settings.topic_dlq]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = {topic["topic"]: len(topic["partitions"]) for topic in described}
    assert partitions == dict.fromkeys(names, settings.topic_partitions)


async def test_published_events_are_consumed_by_the_group_and_offsets_committed(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    sent = [factories.sms(f"message {i}", sender=f"+1415555{i:04d}") for i in range(20)]
    try:
        await publisher.publish(sent)
    finally:
        await publisher.close()

    received: list[Consumed[Event]] = []
    done = asyncio.Event()

    async def apply(batch: Sequence[Consumed[Event]]) -> None:
        received.extend(batch)
        if len(received) >= len(sent):
            done.set()

    consumer: BatchConsumer[Event] = BatchConsumer(settings, decode=decode, apply=apply)
    await consumer.start()
    runner = asyncio.create_task(consumer.run(done))
    try:
        await asyncio.wait_for(done.wait(), 30)
        await runner
    finally:
        await consumer.stop()

    assert sorted(item.value.event_id for item in received) == sorted(e.event_id for e in sent)
    by_id = {item.value.event_id: item.value for item in received}
    assert [by_id[event.event_id] for event in sent] == sent
    # One conversation key always lands on one partition.
    by_key: dict[bytes, set[int]] = {}
    for item in received:
        by_key.setdefault(partition_key(item.value), set()).add(item.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())

    committed = await _committed(settings)
    expected: dict[int, int] = {}
    for item in received:
        expected[item.partition] = max(expected.get(item.partition, 0), item.offset + 1)
    assert committed == expected


async def test_undecodable_records_go_to_the_dead_letter_topic(settings: Settings) -> None:
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    good = factories.sms("fine")
    try:
        # A raw producer puts garbage on the inbound topic, as a broken client might.
        producer = publisher._producer
        await producer.send_and_wait(settings.topic_inbound, b"{not json", key=b"k", partition=0)
        await publisher.publish([good])
    finally:
        await publisher.close()

    seen: list[InboundMessage | object] = []
    done = asyncio.Event()

    async def apply(batch: Sequence[Consumed[Event]]) -> None:
        seen.extend(item.value for item in batch)
        done.set()

    consumer: BatchConsumer[Event] = BatchConsumer(settings, decode=decode, apply=apply)
    await consumer.start()
    runner = asyncio.create_task(consumer.run(done))
    try:
        await asyncio.wait_for(done.wait(), 30)
        await runner
    finally:
        await consumer.stop()
    assert seen == [good]

    dlq = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await dlq.start()
    try:
        dlq.assign([TopicPartition(settings.topic_dlq, p) for p in range(4)])
        records = await dlq.getmany(timeout_ms=10_000)
        dead = [record for batch in records.values() for record in batch]
    finally:
        await dlq.stop()
    assert [record.value for record in dead] == [b"{not json"]
    headers = dict(dead[0].headers)
    assert headers["router-error-type"] == b"ValidationError"
    assert headers["router-source-topic"] == settings.topic_inbound.encode()


async def test_a_record_the_database_refuses_is_dead_lettered_and_the_partition_moves_on(
    settings: Settings,
) -> None:
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    # One conversation key: all three on one partition, in order.
    events = [factories.sms(text, sender="+14155550177") for text in ("one", "poison", "three")]
    try:
        await publisher.publish(events)
    finally:
        await publisher.close()

    applied: list[str] = []
    done = asyncio.Event()

    async def apply(batch: Sequence[Consumed[Event]]) -> None:
        texts = [item.value.text for item in batch if isinstance(item.value, InboundMessage)]
        if "poison" in texts:  # as PostgreSQL refuses a value: the record's own fault
            raise asyncpg.CheckViolationError("cannot apply this one")
        applied.extend(texts)
        if "three" in applied:
            done.set()

    consumer: BatchConsumer[Event] = BatchConsumer(settings, decode=decode, apply=apply)
    await consumer.start()
    runner = asyncio.create_task(consumer.run(done))
    try:
        await asyncio.wait_for(done.wait(), 30)
        await runner
    finally:
        await consumer.stop()
    assert applied == ["one", "three"]
    assert consumer.stats.dead_lettered == 1

    dlq = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await dlq.start()
    try:
        dlq.assign([TopicPartition(settings.topic_dlq, p) for p in range(4)])
        records = await dlq.getmany(timeout_ms=10_000)
    finally:
        await dlq.stop()
    [dead] = [record for batch in records.values() for record in batch]
    assert decode(dead.value) == events[1]
    assert b"cannot apply this one" in dict(dead.headers)["router-error"]
    committed = await _committed(settings)
    assert sum(committed.values()) == 3


async def test_an_unexpected_error_is_waited_out_not_dead_lettered(settings: Settings) -> None:
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    events = [factories.sms(text, sender="+14155550178") for text in ("one", "two")]
    try:
        await publisher.publish(events)
    finally:
        await publisher.close()

    failures = 3
    applied: list[str] = []
    done = asyncio.Event()

    async def apply(batch: Sequence[Consumed[Event]]) -> None:
        nonlocal failures
        if failures:  # a bug, say, fixed by the time of the fourth try
            failures -= 1
            raise RuntimeError("a bug of ours")
        applied.extend(item.value.event_id for item in batch)
        if len(applied) == len(events):
            done.set()

    consumer: BatchConsumer[Event] = BatchConsumer(
        settings.model_copy(update={"consumer_backoff_max_seconds": 0.2}),
        decode=decode,
        apply=apply,
    )
    await consumer.start()
    runner = asyncio.create_task(consumer.run(done))
    try:
        await asyncio.wait_for(done.wait(), 30)
        await runner
    finally:
        await consumer.stop()
    assert applied == [event.event_id for event in events]
    assert consumer.stats.retries == 3
    assert consumer.stats.dead_lettered == 0
    assert consumer.stats.waiting is None
    assert sum((await _committed(settings)).values()) == 2
