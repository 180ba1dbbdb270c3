"""The dead-letter topic: what a dead letter carries, reading them back, and replaying them.

A dead letter is the original record's value and key, with headers saying why it was set
aside (`router-error`, `router-error-type`, `router-error-kind`) and where it came from
(`router-source-topic`, `-partition`, `-offset`), followed by the original record's own
headers. Replaying puts the value back on the inbound topic with its key (so on its
conversation's partition) and the original headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from adapters.kafka.producer import create_producer, stop_producer
from router.dead_letters import DeadLetter, DeadLetterTopicMissing
from router.settings import Settings

__all__ = [
    "DeadLetter",
    "DeadLetterTopicMissing",
    "KafkaDeadLetterTopic",
    "dead_letter_headers",
    "read_dead_letters",
    "replay",
]

# Headers the router adds when it dead-letters a record; a replay leaves them behind.
_OURS = (
    "router-error",
    "router-error-type",
    "router-error-kind",
    "router-source-topic",
    "router-source-partition",
    "router-source-offset",
)
REPLAY_OF = "router-replay-of"
# Reading the topic to its end takes moments; a broker that does not answer in this long is down.
_READ_SECONDS = 30.0


def dead_letter_headers(
    record: ConsumerRecord, error: BaseException, kind: str
) -> list[tuple[str, bytes]]:
    """The headers of `record`'s dead letter: why, from where, then the record's own."""
    return [
        ("router-error", repr(error).encode()[:1000]),
        ("router-error-type", type(error).__name__.encode()),
        ("router-error-kind", kind.encode()),
        ("router-source-topic", record.topic.encode()),
        ("router-source-partition", str(record.partition).encode()),
        ("router-source-offset", str(record.offset).encode()),
        *((name, value) for name, value in (record.headers or ())),
    ]


class KafkaDeadLetterTopic:
    """The dead-letter topic on the configured brokers, as `router dlq` reads and replays it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def read(self, wanted: Iterable[tuple[int, int]] | None) -> list[DeadLetter]:
        return await read_dead_letters(self._settings, wanted)

    async def replay(self, letters: Sequence[DeadLetter]) -> None:
        await replay(self._settings, letters)


async def read_dead_letters(
    settings: Settings, wanted: Iterable[tuple[int, int]] | None = None
) -> list[DeadLetter]:
    """The dead letters at `wanted` (partition, offset) positions, or all of them, in order.

    Reads outside any consumer group, so reading commits nothing and moves nobody's offsets.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_id}-dlq-reader",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    partitions = await _partitions(settings, settings.topic_dlq)
    await consumer.start()
    try:
        positions = set(wanted) if wanted is not None else None
        tps = [
            TopicPartition(settings.topic_dlq, p)
            for p in partitions
            if positions is None or any(p == at for at, _ in positions)
        ]
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            first = starts[tp]
            if positions is not None:
                first = max(first, min(o for p, o in positions if p == tp.partition))
            consumer.seek(tp, first)
        letters: list[DeadLetter] = []
        async with asyncio.timeout(_READ_SECONDS):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    letters.extend(
                        _letter(record)
                        for record in records
                        if record.offset < ends[tp]
                        and (positions is None or (record.partition, record.offset) in positions)
                    )
                for tp in tps:  # done with a partition: fetch no further on it
                    if await consumer.position(tp) >= ends[tp]:
                        consumer.pause(tp)
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))


async def _partitions(settings: Settings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_id}-dlq-reader",
    )
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code") or not described.get("partitions"):
        raise DeadLetterTopicMissing(f"the dead-letter topic {topic} does not exist")
    return sorted(partition["partition"] for partition in described["partitions"])


def _letter(record: ConsumerRecord) -> DeadLetter:
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )


async def replay(settings: Settings, letters: Sequence[DeadLetter]) -> None:
    """Put each letter's original value back on the inbound topic, with its key and headers."""
    producer = create_producer(settings)
    await producer.start()
    source = settings.topic_dlq
    try:
        pending = [
            await producer.send(
                settings.topic_inbound,
                value=letter.value,
                key=letter.key,
                headers=[
                    *((name, value) for name, value in letter.headers if name not in _OURS),
                    (REPLAY_OF, f"{source}:{letter.partition}:{letter.offset}".encode()),
                ],
            )
            for letter in letters
        ]
        await asyncio.gather(*pending)
    finally:
        await stop_producer(producer, settings.publish_timeout_seconds)
