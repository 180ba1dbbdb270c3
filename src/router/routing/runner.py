"""`router consume`: the routing engine on Kafka, with its sweeps and the outbox relay."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import (
    create_engine,
    create_sessionmaker,
    driver_connection,
    in_transaction,
    is_unreachable,
)
from router.inbound.envelope import decode, utcnow
from router.inbound.ports import Event
from router.inbound.replay import prune_tokens
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting, expire_offers
from router.settings import Settings

if TYPE_CHECKING:
    from adapters.kafka.consumer import BatchConsumer, Consumed

log = logging.getLogger(__name__)

# Only one process relays the outbox at a time, so events leave in the order they were written.
_RELAY_LOCK = 7_260_002


async def sweep_forever(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Every interval: move lapsed offers on, then offer waiting conversations to free agents.

    It also forgets the signed webhook tokens whose replay window has passed.
    """
    while not stop.is_set():
        try:
            await in_transaction(sessions, lambda s: expire_offers(s, settings, clock()))
            await in_transaction(sessions, lambda s: drain_waiting(s, settings, clock()))
            await in_transaction(sessions, lambda s: prune_tokens(s, clock()))
        except Exception as error:
            if is_unreachable(error):  # the world's fault: no traceback to read
                log.warning(
                    "sweep waits for the database; trying again next interval",
                    extra={"error": type(error).__name__},
                )
            else:
                log.exception("sweep failed; trying again next interval")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.sweep_interval_seconds)


Record = tuple[str, bytes | None, bytes]

_OLDEST = "SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1"
_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"


async def relay_outbox(
    sessions: async_sessionmaker[AsyncSession],
    publish_all: Callable[[Sequence[Record]], Awaitable[None]],
    *,
    limit: int = 500,
) -> int:
    """Publish the outbox's rows in id order; delete them once they are acknowledged.

    A failure leaves the rows unpublished, to be sent again: delivery is at least once, and
    each event carries its own id for consumers to recognise a repeat.
    """

    async def work(session: AsyncSession) -> int:
        leader = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_RELAY_LOCK})"))
        if not leader:
            return 0
        connection = await driver_connection(session)
        rows = await connection.fetch(_OLDEST, limit)
        if not rows:
            return 0
        await publish_all([(row["topic"], row["key"], row["value"]) for row in rows])
        await connection.execute(_PUBLISHED, [row["id"] for row in rows])
        return len(rows)

    return await in_transaction(sessions, work)


async def relay_forever(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event
) -> None:
    """Publish conversation events to `router.events.v1` as their transactions commit."""
    from adapters.kafka.producer import RecordPublisher

    publisher = RecordPublisher(settings, "outbox")
    await publisher.start()
    try:
        while not stop.is_set():
            try:
                sent = await relay_outbox(sessions, publisher.publish_all)
            except Exception:
                log.exception("outbox relay failed; trying again")
                sent = 0
            if not sent:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
    finally:
        await publisher.close()


def build_consumer(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> BatchConsumer[Event]:
    """The routing engine as a Kafka batch consumer: one transaction per poll."""
    from adapters.kafka.consumer import BatchConsumer

    routing = RoutingEngine(sessions, settings)

    async def apply(batch: Sequence[Consumed[Event]]) -> None:
        await routing.process([item.value for item in batch])

    return BatchConsumer(settings, decode=decode, apply=apply)


def _settle_garbage_collector() -> None:
    """Keep start-up's objects out of the collector and let it run less often.

    A routing batch allocates tens of thousands of short-lived containers (rows, verdicts,
    events), nearly all freed by reference counting; with the default thresholds the
    collector ran hundreds of times a batch and its full passes walked every module, model
    and pool made at start-up.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


_GC_YOUNG_THRESHOLD = 20_000


async def run_consumer(settings: Settings) -> int:
    """Run the routing engine until SIGTERM/SIGINT; finish the batch in flight, then exit 0."""
    from adapters.kafka.topics import ensure_topics
    from router.bootstrap import resolve_database

    if settings.consumer_niceness:
        # Sharing a host with `router serve`: routing can wait a moment, a provider waiting
        # for its webhook's answer should not. The backlog stays safe in Kafka meanwhile.
        os.nice(settings.consumer_niceness)
    database = resolve_database(settings)
    if settings.migrate_on_start or settings.database_is_embedded():
        from router.migrate import upgrade

        await upgrade(database.url)
    await ensure_topics(settings)
    engine = create_engine(
        database.url, pool_size=settings.database_pool_size, show_parameters=settings.log_bodies
    )
    sessions = create_sessionmaker(engine)
    consumer = build_consumer(settings, sessions)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    from router.routing.probe import probe_app, probe_server

    probe = probe_server(
        probe_app(engine, sessions, consumer.check, settings),
        settings.http_host,
        settings.consumer_http_port,
    )
    serving = asyncio.create_task(probe.serve(), name="probe")
    # A probe that cannot bind its port fails the start, not the shutdown hours later.
    for _ in range(200):
        if probe.started or serving.done():
            break
        await asyncio.sleep(0.05)
    if not probe.started:
        print(
            f"router: cannot serve /healthz, /readyz and /metrics on "
            f"{settings.http_host}:{settings.consumer_http_port} (ROUTER_CONSUMER_HTTP_PORT)",
            file=sys.stderr,
            flush=True,
        )
        await engine.dispose()
        database.stop()
        return 2
    await consumer.start()
    _settle_garbage_collector()
    print(
        f"router: consuming {settings.topic_inbound} as group {settings.consumer_group}; "
        f"database {database.label}; probes on port {probe.servers[0].sockets[0].getsockname()[1]}",
        flush=True,
    )
    tasks = [
        asyncio.create_task(consumer.run(stop), name="consume"),
        asyncio.create_task(sweep_forever(sessions, settings, stop), name="sweep"),
        asyncio.create_task(relay_forever(sessions, settings, stop), name="relay"),
    ]
    try:
        await stop.wait()
        _, pending = await asyncio.wait(tasks, timeout=settings.shutdown_grace_seconds)
        for task in pending:
            frames = "".join(
                f"\n  {frame.f_code.co_filename}:{frame.f_lineno}" for frame in task.get_stack()
            )
            log.error("grace period over; %s still running at:%s", task.get_name(), frames)
            task.cancel()
        if pending:
            log.error("stopping with work in flight (it will be redelivered)")
            return 1
    finally:
        probe.should_exit = True
        await asyncio.wait({serving}, timeout=5)
        await consumer.stop()
        await engine.dispose()
        database.stop()
    return 0
