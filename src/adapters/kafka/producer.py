"""Publishing CloudEvents to Kafka: acks from every in-sync replica, idempotent.

Every record's value is one whole CloudEvent in JSON: the Kafka protocol binding's
structured content mode, which its `content-type` header announces.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import struct
from collections.abc import Sequence
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.producer.message_accumulator import BatchBuilder

from router.errors import TransportUnavailable
from router.inbound.envelope import encode, partition_key
from router.inbound.ports import Event
from router.settings import Settings

log = logging.getLogger(__name__)

# Built once and shared by every record: the producer reads headers, never changes them.
STRUCTURED_CLOUDEVENT: Final[list[tuple[str, bytes]]] = [
    ("content-type", b"application/cloudevents+json")
]


def create_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.kafka_client_id,
        acks="all",
        enable_idempotence=True,
        # Webhooks arriving within a few milliseconds share one produce request: the broker
        # answers fewer requests, on the same cores that answer the webhooks.
        linger_ms=settings.publish_linger_ms,
        request_timeout_ms=max(1000, int(settings.publish_timeout_seconds * 1000)),
        partitioner=_key_partitioner,
    )


def _key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The producer's default partitioner (murmur2 of the key), with the hash cached.

    aiokafka passes the topic's partitions as its metadata has them now, so a topic that
    grew is seen at once; a record without a key goes to any available partition.
    """
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_partition_index(key, len(all_partitions))]


class KafkaPublisher:
    """The Kafka transport: a webhook is answered only once the broker has its events."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_inbound
        self._deadline = settings.publish_timeout_seconds
        self._producer = create_producer(settings)

    async def start(self) -> None:
        await self._producer.start()

    async def publish(self, events: Sequence[Event]) -> None:
        """Send every event and wait for all acknowledgements within the deadline."""
        try:
            async with asyncio.timeout(self._deadline):
                pending = [
                    await self._producer.send(
                        self._topic,
                        value=encode(event),
                        key=partition_key(event),
                        headers=STRUCTURED_CLOUDEVENT,
                    )
                    for event in events
                ]
                if len(pending) == 1:  # most webhooks carry one event: no gathering needed
                    await pending[0]
                else:
                    await asyncio.gather(*pending)
        except TimeoutError:
            raise TransportUnavailable(
                f"the broker did not acknowledge within {self._deadline:g} s"
            ) from None
        except KafkaError as error:
            raise TransportUnavailable(f"the broker refused the event: {error}") from None

    async def check(self) -> None:
        """Ask the cluster for fresh metadata; raise when no broker answers in time."""
        client = self._producer.client
        async with asyncio.timeout(2):
            await client.fetch_all_metadata()

    async def close(self) -> None:
        await stop_producer(self._producer, self._deadline)


async def stop_producer(producer: AIOKafkaProducer, deadline: float) -> None:
    """Flush what is pending, but never wait past `deadline` seconds for it.

    With the broker gone, batches that can never be acknowledged would hold shutdown forever.
    A webhook whose events were not acknowledged was answered 503, so the provider retries
    it, and an outbox row leaves the outbox only after its send was acknowledged: ending
    the sender loses nothing that was promised.
    """
    stopping = asyncio.create_task(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=deadline)
    if done:
        return
    log.warning("the broker did not take the pending records; closing without them")
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None:
        task.cancel()
    await asyncio.wait({stopping}, timeout=deadline)
    if not stopping.done():
        stopping.cancel()


@functools.lru_cache(maxsize=65_536)
def _partition_index(key: bytes, partitions: int) -> int:
    """Where Kafka's default partitioner puts a key among the sorted partitions (murmur2).

    The same as the producer's own partitioner and Java clients. Cached: a conversation's
    changes share its key, and the hash is pure Python.
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_MURMUR_SEED = 0x9747B28C
_MURMUR_MIX = 0x5BD1E995
_WORD = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of `data` (unsigned 32 bits), equal to aiokafka's `murmur2`.

    Reads the data four bytes at a time rather than byte by byte, in about half the time:
    the first event of every new conversation has a key not hashed before.
    """
    length = len(data)
    whole = length & ~3
    h = _MURMUR_SEED ^ length
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = k * _MURMUR_MIX & _WORD
        h = (h * _MURMUR_MIX & _WORD) ^ ((k ^ k >> 24) * _MURMUR_MIX & _WORD)
    if whole < length:
        h = (h ^ int.from_bytes(data[whole:], "little")) * _MURMUR_MIX & _WORD
    h = (h ^ h >> 13) * _MURMUR_MIX & _WORD
    return h ^ h >> 15


class RecordPublisher:
    """Publishes prepared records (topic, key, value) and waits for every acknowledgement.

    The values are CloudEvents in JSON (the outbox holds nothing else), so every record
    carries the structured-mode `content-type` header.
    """

    def __init__(self, settings: Settings, client_suffix: str) -> None:
        self._deadline = settings.publish_timeout_seconds
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=f"{settings.kafka_client_id}-{client_suffix}",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def publish_all(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Send the records; return once all are acknowledged, raise otherwise.

        Records go to the partition their key hashes to (as the producer's own partitioner
        would put them), in the given order within each partition, in whole batches: the
        producer's per-record path costs the relay several times more than the records.
        """
        async with asyncio.timeout(self._deadline):
            pending: list[asyncio.Future[object]] = []
            open_batches: dict[tuple[str, int], BatchBuilder] = {}
            partitions: dict[str, list[int]] = {}
            headers = STRUCTURED_CLOUDEVENT
            for topic, key, value in records:
                if topic not in partitions:
                    partitions[topic] = sorted(await self._producer.partitions_for(topic))
                partition = _key_partitioner(key, partitions[topic], partitions[topic])
                batch = open_batches.get((topic, partition))
                if batch is None:
                    batch = open_batches[(topic, partition)] = self._producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    # Full: send it and start the partition's next batch with this record
                    # (an empty batch takes its first record whatever its size).
                    pending.append(
                        await self._producer.send_batch(batch, topic, partition=partition)
                    )
                    batch = open_batches[(topic, partition)] = self._producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
            for (topic, partition), batch in open_batches.items():
                pending.append(await self._producer.send_batch(batch, topic, partition=partition))
            await asyncio.gather(*pending)

    async def close(self) -> None:
        await stop_producer(self._producer, self._deadline)
