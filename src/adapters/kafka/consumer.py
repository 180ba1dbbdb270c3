"""A batch consumer: apply each poll's records at once, then commit exactly what was applied.

One poll (records of every partition the member holds, each partition in its own order) is
one call of the handler, so one database transaction: its fixed costs are paid once per poll
rather than once per partition. Offsets are committed only after the handler returned, that
is after that transaction committed. A record that keeps failing is sent to the dead-letter
topic with the error, so one bad event never stalls its partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from adapters.kafka.producer import stop_producer
from router.observability.metrics import (
    BATCH_RECORDS,
    BATCH_SECONDS,
    CONSUMER_LAG,
    DEAD_LETTERS,
)
from router.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Consumed(Generic[T]):
    """A decoded record with where it came from."""

    value: T
    partition: int
    offset: int
    timestamp_ms: int


@dataclass(slots=True)
class ConsumerStats:
    batches: int = 0
    records: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_batch_seconds: float = 0.0
    in_flight: int = 0
    partitions: set[int] = field(default_factory=set)


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the batch in flight has committed its offsets."""

    def __init__(self, consumer: BatchConsumer[object]) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._consumer.applying:
            self._consumer.stats.partitions.difference_update(tp.partition for tp in revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._consumer.stats.partitions.update(tp.partition for tp in assigned)


class BatchConsumer(Generic[T]):
    """Consumes a topic in a group, applying each poll as one batch."""

    def __init__(
        self,
        settings: Settings,
        *,
        decode: Callable[[bytes], T],
        apply: Callable[[Sequence[Consumed[T]]], Awaitable[None]],
        topic: str | None = None,
        group_id: str | None = None,
        max_attempts: int = 3,
        retry_backoff_seconds: float = 0.2,
    ) -> None:
        self._settings = settings
        self._decode = decode
        self._apply = apply
        self._topic = topic or settings.topic_inbound
        self._group_id = group_id or settings.consumer_group
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_seconds
        self.applying = asyncio.Lock()
        self.stats = ConsumerStats()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=self._group_id,
            client_id=f"{settings.kafka_client_id}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=settings.consumer_max_batch,
            # A steady trickle of events would otherwise cost the broker one fetch per
            # event or two; waiting briefly for a fuller answer costs routing at most the wait.
            fetch_min_bytes=settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            isolation_level="read_committed",
            # A member learns that its group rebalances from its next heartbeat, and a consumer
            # that joins (a deploy, a scale-out) gets partitions only once every member has:
            # heartbeats every second rather than aiokafka's three move partitions sooner.
            heartbeat_interval_ms=settings.consumer_heartbeat_ms,
        )
        self._dlq = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=f"{settings.kafka_client_id}-dlq",
            acks="all",
            enable_idempotence=True,
        )

    async def start(self) -> None:
        await self._dlq.start()
        await self._consumer.start()
        self._consumer.subscribe([self._topic], listener=_FinishBeforeRevoke(self))  # type: ignore[arg-type]

    async def stop(self) -> None:
        """Leave the group (after the batch in flight) and flush the dead-letter producer."""
        async with self.applying:
            try:
                async with asyncio.timeout(self._settings.shutdown_grace_seconds):
                    await self._consumer.stop()
            except TimeoutError:
                # The broker is gone: the group will notice the member left on its own.
                log.warning("leaving the consumer group timed out")
        await stop_producer(self._dlq, self._settings.publish_timeout_seconds)

    def assigned_partitions(self) -> set[int]:
        return set(self.stats.partitions)

    async def check(self) -> None:
        """Readiness: a consumer that holds no partitions is not doing its work."""
        if not self.stats.partitions:
            raise RuntimeError("no partitions assigned (joining or rebalancing the group)")

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and apply batches until `stop` is set; the batch in flight always finishes."""
        while not stop.is_set():
            batches = await self._consumer.getmany(
                timeout_ms=200, max_records=self._settings.consumer_max_batch
            )
            if not batches:
                continue
            async with self.applying:
                started = asyncio.get_running_loop().time()
                self.stats.in_flight = sum(len(records) for records in batches.values())
                await self._apply_poll(batches)
                self.stats.in_flight = 0
                self.stats.last_batch_seconds = asyncio.get_running_loop().time() - started

    async def _apply_poll(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Apply one poll in one call; on repeated failure, find the culprit(s) record by record."""
        decoded: list[Consumed[T]] = []
        raw: list[ConsumerRecord] = []
        for records in batches.values():
            for record in records:
                try:
                    value = self._decode(record.value)
                except Exception as error:  # any decoding failure makes the record poison
                    await self._dead_letter(record, error)
                    continue
                decoded.append(Consumed(value, record.partition, record.offset, record.timestamp))
                raw.append(record)
        started = time.perf_counter()
        if decoded and await self._apply_with_retries(decoded) is not None:
            for item, record in zip(decoded, raw, strict=True):
                failure = await self._apply_with_retries([item])
                if failure is not None:
                    await self._dead_letter(record, failure)
        applied = sum(len(records) for records in batches.values())
        self.stats.batches += 1
        self.stats.records += applied
        await self._commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
        BATCH_RECORDS.observe(applied)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        for tp, records in batches.items():
            self._observe_lag(tp, records[-1].offset + 1)

    async def _apply_with_retries(self, items: Sequence[Consumed[T]]) -> Exception | None:
        """Apply with backoff; the last error when every attempt failed, else None."""
        last: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._apply(items)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as error:
                last = error
                self.stats.retries += 1
                log.warning(
                    "applying a batch failed",
                    extra={"attempt": attempt, "records": len(items), "error": repr(error)},
                )
                await asyncio.sleep(self._backoff * attempt)
        return last

    def _observe_lag(self, tp: TopicPartition, next_offset: int) -> None:
        """Records on the partition behind what was just applied (as of the last fetch)."""
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - next_offset))

    async def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(
                {tp: OffsetAndMetadata(offset, "") for tp, offset in next_offsets.items()}
            )
        except (CommitFailedError, IllegalStateError) as error:
            # A partition moved to another member mid-batch: it will redeliver, and the
            # unique provider event ids make the replay change nothing.
            log.warning(
                "offset commit refused",
                extra={
                    "partitions": sorted(tp.partition for tp in next_offsets),
                    "error": str(error),
                },
            )

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException | None) -> None:
        headers = [
            ("router-error", repr(error).encode()[:1000]),
            ("router-error-type", type(error).__name__.encode()),
            ("router-source-topic", record.topic.encode()),
            ("router-source-partition", str(record.partition).encode()),
            ("router-source-offset", str(record.offset).encode()),
            *((name, value) for name, value in (record.headers or ())),
        ]
        try:
            await self._dlq.send_and_wait(
                self._settings.topic_dlq, value=record.value, key=record.key, headers=headers
            )
        except KafkaError:
            log.exception("dead-lettering failed; the record will be redelivered")
            raise
        self.stats.dead_lettered += 1
        DEAD_LETTERS.inc()
        log.error(
            "record sent to the dead-letter topic",
            extra={"partition": record.partition, "offset": record.offset, "error": repr(error)},
        )
