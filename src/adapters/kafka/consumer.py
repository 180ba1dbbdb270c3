"""A batch consumer: apply each poll's records at once, then commit exactly what was applied.

One poll (records of every partition the member holds, each partition in its own order) is
one call of the handler, so one database transaction: its fixed costs are paid once per poll
rather than once per partition. Offsets are committed only after the handler returned, that
is after that transaction committed.

A failure is judged by its kind (`router.faults`), never by a count of attempts:

* the world's (database or broker out of reach, a deadlock) and unexpected ones are waited
  out: fetching stops (the partitions are paused, and polled meanwhile so the member keeps
  its place in the group), the same records are tried again after a capped, jittered
  back-off for as long as it takes, and the consumer reports not ready while it waits;
* a record's own fault (undecodable, or content the database or validation refuses) is found
  by halving the batch until the record stands alone, and only that record is dead-lettered.

The `applying` lock is held while a poll is applied and committed, so a rebalance waits for
the batch in flight, but never while waiting out a failure: a rebalance then revokes
partitions at once, and their records in flight are dropped, neither applied nor committed
(their new owner reads them from the last committed offset).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from adapters.kafka.dead_letters import dead_letter_headers
from adapters.kafka.producer import stop_producer
from router.faults import BROKER, Backoff, Fault, Verdict, judge
from router.observability.metrics import (
    BATCH_RECORDS,
    BATCH_SECONDS,
    CONSUMER_LAG,
    CONSUMER_WAITING,
    CONSUMER_WAITS,
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
    # What the consumer is waiting out, while it does; None while it works.
    waiting: str | None = None


class _Stopping(Exception):
    """Shutdown came while waiting: leave the poll in flight uncommitted (it is redelivered)."""


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the database or broker call in flight has finished."""

    def __init__(self, consumer: BatchConsumer[object]) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._consumer.applying:
            gone = {tp.partition for tp in revoked}
            self._consumer.stats.partitions.difference_update(gone)
            self._consumer.lost.update(gone)

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
        judge: Callable[[BaseException], Verdict] = judge,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._decode = decode
        self._apply = apply
        self._judge = judge
        self._topic = topic or settings.topic_inbound
        self._group_id = group_id or settings.consumer_group
        self._backoff = Backoff(
            settings.consumer_backoff_initial_seconds,
            settings.consumer_backoff_max_seconds,
            rng or random.Random(),
        )
        self.applying = asyncio.Lock()
        self.stats = ConsumerStats()
        # Partitions revoked since the poll in flight was fetched: its records on them are
        # no longer ours to apply or commit.
        self.lost: set[int] = set()
        self._held = False
        self._locked = False  # whether `run` holds `applying` (it lets go while waiting)
        self._stop = asyncio.Event()
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
        """Readiness: a consumer that is waiting out a failure, or holds no partitions, is not."""
        if self.stats.waiting is not None:
            raise RuntimeError(f"waiting out {self.stats.waiting}")
        if not self.stats.partitions:
            raise RuntimeError("no partitions assigned (joining or rebalancing the group)")

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and apply batches until `stop` is set; the batch in flight always finishes,
        unless it is waiting out a failure (then it is left to be redelivered)."""
        self._stop = stop
        while not stop.is_set():
            batches = await self._consumer.getmany(
                timeout_ms=200, max_records=self._settings.consumer_max_batch
            )
            if not batches:
                continue
            started = asyncio.get_running_loop().time()
            self.stats.in_flight = sum(len(records) for records in batches.values())
            await self.applying.acquire()
            self._locked = True
            try:
                await self._apply_poll(batches)
            except _Stopping:
                log.warning("stopping while waiting; the records in flight will be redelivered")
                return
            finally:
                if self._locked:
                    self._locked = False
                    self.applying.release()
                self.stats.in_flight = 0
                if self._held:
                    self._release()
            self.stats.last_batch_seconds = asyncio.get_running_loop().time() - started

    async def _apply_poll(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Apply one poll in one call; on a record's fault, isolate the culprit(s)."""
        self.lost.clear()  # revocations before this poll was fetched do not concern it
        started = time.perf_counter()
        decoded: list[Consumed[T]] = []
        raw: list[ConsumerRecord] = []
        for records in batches.values():
            for record in records:
                try:
                    value = self._decode(record.value)
                except Exception as error:  # a record that cannot be decoded is its own fault
                    await self._dead_letter(record, error, "undecodable")
                    continue
                decoded.append(Consumed(value, record.partition, record.offset, record.timestamp))
                raw.append(record)
        if decoded:
            await self._apply_range(decoded, raw, 0, len(decoded))
        applied = sum(len(records) for records in batches.values())
        self.stats.batches += 1
        self.stats.records += applied
        next_offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        await self._attempt(lambda: self._commit(next_offsets))
        BATCH_RECORDS.observe(applied)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        for tp, offset in next_offsets.items():
            self._observe_lag(tp, offset)

    async def _apply_range(
        self, decoded: list[Consumed[T]], raw: list[ConsumerRecord], lo: int, hi: int
    ) -> None:
        """Apply decoded[lo:hi]; on a record's fault, each half in turn, down to one record."""
        whole = lo == 0 and hi == len(decoded)

        async def apply() -> None:
            items = decoded if whole else decoded[lo:hi]
            if self.lost:
                items = [item for item in items if item.partition not in self.lost]
            if items:
                await self._apply(items)

        error = await self._attempt(apply)
        if error is None:
            return
        if hi - lo == 1:
            await self._dead_letter(raw[lo], error, self._judge(error).kind)
            return
        middle = (lo + hi) // 2
        log.info("isolating a record's fault", extra={"records": hi - lo, "error": repr(error)})
        await self._apply_range(decoded, raw, lo, middle)
        await self._apply_range(decoded, raw, middle, hi)

    async def _attempt(self, work: Callable[[], Awaitable[None]]) -> BaseException | None:
        """Run `work` until it succeeds or fails by a record's fault (then return that error).

        The world's errors and unexpected ones are waited out, without the lock.
        """
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                verdict = BROKER if isinstance(error, KafkaError) else self._judge(error)
                if verdict.fault is Fault.RECORD:
                    return error
                await self._wait_out(verdict, error)
            else:
                if self.stats.waiting is not None:
                    self._recovered()
                return None

    async def _wait_out(self, verdict: Verdict, error: Exception) -> None:
        """Back off, polling paused partitions meanwhile; raise `_Stopping` on shutdown."""
        reason = f"{verdict.kind}: {type(error).__name__}: {error}"[:300]
        if self.stats.waiting is None:
            CONSUMER_WAITING.set(1)
            # An unexpected error is most likely ours: its traceback is what will fix it.
            log.error(
                "applying failed; waiting it out (nothing is dead-lettered)",
                exc_info=error if verdict.fault is Fault.UNEXPECTED else None,
                extra={"kind": verdict.kind, "error": repr(error)},
            )
        self.stats.waiting = reason
        self.stats.retries += 1
        CONSUMER_WAITS.labels(verdict.kind).inc()
        delay = self._backoff.next_delay()
        log.warning(
            "waiting before trying again",
            extra={"kind": verdict.kind, "delay_seconds": round(delay, 3), "error": repr(error)},
        )
        # A rebalance meanwhile must not wait for the outage: let go of the lock.
        self._locked = False
        self.applying.release()
        try:
            await self._hold(delay)
        finally:
            await self.applying.acquire()  # cancelled here, it is not held: `run` knows
            self._locked = True
        if self._stop.is_set():
            raise _Stopping

    async def _hold(self, seconds: float) -> None:
        """Wait `seconds` fetching nothing, yet polling, so the group keeps this member.

        aiokafka leaves the group when `getmany` is not called within `max_poll_interval_ms`,
        so the wait polls with every partition paused. A partition assigned meanwhile is not
        paused yet: anything fetched from it is put back (seek) for after the wait.
        """
        self._held = True
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._consumer.pause(*self._consumer.assignment())
            try:
                fetched = await self._consumer.getmany(timeout_ms=max(1, int(remaining * 1000)))
            except KafkaError as error:
                log.warning("polling while waiting failed", extra={"error": repr(error)})
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                return
            for tp, records in fetched.items():
                self._consumer.seek(tp, records[0].offset)
                self._consumer.pause(tp)

    def _release(self) -> None:
        """Fetch again from every partition held during a wait."""
        self._held = False
        paused = self._consumer.paused()
        if paused:
            self._consumer.resume(*paused)

    def _recovered(self) -> None:
        log.warning("carrying on after waiting", extra={"waited_out": self.stats.waiting})
        self.stats.waiting = None
        self._backoff.reset()
        CONSUMER_WAITING.set(0)

    def _observe_lag(self, tp: TopicPartition, next_offset: int) -> None:
        """Records on the partition behind what was just applied (as of the last fetch)."""
        if tp.partition in self.lost:
            return
        highwater = self._consumer.highwater(tp)
        if highwater is not None:
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - next_offset))

    async def _commit(self, next_offsets: dict[TopicPartition, int]) -> None:
        offsets = {
            tp: OffsetAndMetadata(offset, "")
            for tp, offset in next_offsets.items()
            if tp.partition not in self.lost
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # A partition moved to another member mid-batch: it will redeliver, and the
            # unique provider event ids make the replay change nothing.
            log.warning(
                "offset commit refused",
                extra={"partitions": sorted(tp.partition for tp in offsets), "error": str(error)},
            )

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException, kind: str) -> None:
        """Send `record` to the dead-letter topic (waiting out the broker if it must)."""

        async def send() -> None:
            if record.partition in self.lost:
                return  # no longer ours: its new owner judges it again
            await self._dlq.send_and_wait(
                self._settings.topic_dlq,
                value=record.value,
                key=record.key,
                headers=dead_letter_headers(record, error, kind),
            )
            self.stats.dead_lettered += 1
            DEAD_LETTERS.inc()
            where = {"partition": record.partition, "offset": record.offset}
            log.error("record dead-lettered", extra={**where, "kind": kind, "error": repr(error)})

        refused = await self._attempt(send)
        if refused is not None:
            # Never judged so (the broker's errors are the world's); were it ever, stopping
            # with the poll uncommitted loses nothing, where moving on would.
            raise RuntimeError("the dead-letter topic refused a record") from refused
