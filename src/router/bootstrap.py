"""The composition root: picks the database and the transport from the settings.

It is the one place (with `router.app` and `router.cli`) that imports `adapters`: the domain
defines the ports (`InboundPublisher`, `RecordPublisher`), and this wires the Kafka and
PostgreSQL adapters into them, for `router serve` and for `router consume`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.attachments.fetcher import AttachmentFetcher
from router.attachments.ports import BlobStore
from router.db import create_engine, create_sessionmaker
from router.inbound.envelope import decode
from router.inbound.inline import InlinePublisher
from router.inbound.ports import Event, InboundPublisher
from router.routing.engine import RoutingEngine
from router.routing.runner import RecordPublisher, relay_forever, sweep_forever
from router.settings import Settings
from router.state import RouterState

if TYPE_CHECKING:
    from adapters.kafka.consumer import BatchConsumer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Database:
    url: str
    label: str
    # Stops an embedded server; a process killed by a signal runs no atexit hook, so the
    # process that started it stops it on its way out.
    stop: Callable[[], None] = lambda: None


def resolve_database(settings: Settings) -> Database:
    """The configured database, or the embedded one (started now) when none is configured."""
    if settings.database_url is not None:
        from router.masking import mask_url

        url = settings.database_url.get_secret_value()
        return Database(url=url, label=f"PostgreSQL at {mask_url(url)}")
    from adapters.postgres.embedded import EmbeddedPostgres

    folder = settings.data_dir / "postgres"
    server = EmbeddedPostgres(folder)
    url = server.start()
    return Database(url=url, label=f"embedded PostgreSQL (data in {folder})", stop=server.stop)


async def build_publisher(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> InboundPublisher:
    """Kafka when brokers are configured (topics created if missing), else inline."""
    if settings.transport_is_kafka():
        from adapters.kafka.producer import KafkaPublisher
        from adapters.kafka.topics import ensure_topics

        await ensure_topics(settings)
        return KafkaPublisher(settings)
    return InlinePublisher(RoutingEngine(sessions, settings))


def blob_store(settings: Settings) -> BlobStore:
    """The folder blob store (ROUTER_ATTACHMENTS_DIR, else `blobs` under the data folder)."""
    from adapters.blobs.folder import FolderBlobStore

    return FolderBlobStore(settings.blobs_folder(settings.data_dir))


@asynccontextmanager
async def running_router(settings: Settings) -> AsyncIterator[RouterState]:
    """Start the database (migrating an embedded one) and the transport; stop them after."""
    database = resolve_database(settings)
    if settings.database_is_embedded() or settings.migrate_on_start:
        from router.migrate import upgrade

        await upgrade(database.url)
    engine = create_engine(
        database.url, pool_size=settings.database_pool_size, show_parameters=settings.log_bodies
    )
    sessions = create_sessionmaker(engine)
    try:
        publisher = await build_publisher(settings, sessions)
    except BaseException:
        await engine.dispose()
        database.stop()
        raise
    state = RouterState(settings, engine, sessions, publisher, database.label, blob_store(settings))
    try:
        await publisher.start()
        transport = (
            f"Kafka at {settings.kafka_bootstrap_servers}"
            if settings.transport_is_kafka()
            else "inline (no Kafka configured: webhooks route inside the request)"
        )
        log.info("router started: database %s; transport %s", database.label, transport)
        print(f"router: database {database.label}", flush=True)
        print(f"router: transport {transport}", flush=True)
        async with background_work(state):
            yield state
    finally:
        await state.publisher.close()
        await engine.dispose()
        database.stop()


@asynccontextmanager
async def background_work(state: RouterState) -> AsyncIterator[None]:
    """What runs beside the HTTP API: sweeps, the outbox relay, optionally the engine.

    On the inline transport the API process is the whole router, so it sweeps lapsed offers
    and waiting queues itself. With Kafka, `router consume` processes route, sweep and relay
    the outbox (every process's changes, the API's included), so the API answers webhooks
    without batch work beside them; with `--with-consumer` it does all of that itself.
    """
    settings = state.settings
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    consumer = None
    if not settings.transport_is_kafka() or settings.serve_with_consumer:
        tasks.append(asyncio.create_task(sweep_forever(state.sessions, settings, stop)))
        fetcher = attachment_fetcher(settings, state.sessions, state.blobs)
        interval = settings.attachment_fetch_interval_seconds
        tasks.append(asyncio.create_task(fetcher.run(stop, interval)))
    if settings.transport_is_kafka() and settings.serve_with_consumer:
        publisher = outbox_publisher(settings)
        tasks.append(asyncio.create_task(relay_forever(state.sessions, publisher, stop)))
        consumer = build_consumer(settings, state.sessions)
        await consumer.start()
        tasks.append(asyncio.create_task(consumer.run(stop)))
        state.readiness_checks["consumer"] = consumer.check
    try:
        yield
    finally:
        stop.set()
        try:
            async with asyncio.timeout(settings.shutdown_grace_seconds):
                await asyncio.gather(*tasks, return_exceptions=True)
        except TimeoutError:
            for task in tasks:
                task.cancel()
        if consumer is not None:
            await consumer.stop()


def attachment_fetcher(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], blobs: BlobStore
) -> AttachmentFetcher:
    """The fetcher of provider-hosted media, with the providers' credentials."""
    from adapters.media.providers import ProviderMedia

    return AttachmentFetcher(
        sessions,
        ProviderMedia(settings),
        blobs,
        settings.attachment_rules(),
        attempts=settings.attachment_fetch_attempts,
        retry_base_seconds=settings.attachment_fetch_retry_base_seconds,
    )


def outbox_publisher(settings: Settings) -> RecordPublisher:
    """The Kafka producer the outbox relay publishes conversation events with."""
    from adapters.kafka.producer import RecordPublisher as KafkaRecordPublisher

    return KafkaRecordPublisher(settings, "outbox")


def build_consumer(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> BatchConsumer[Event]:
    """The routing engine as a Kafka batch consumer: one transaction per poll."""
    from adapters.kafka.consumer import BatchConsumer, Consumed

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
    """`router consume`: route until SIGTERM/SIGINT; finish the batch in flight, then exit 0."""
    from adapters.kafka.topics import ensure_topics

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

    from router.observability.servers import side_server
    from router.routing.probe import probe_app

    probe = side_server(
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
        asyncio.create_task(
            relay_forever(sessions, outbox_publisher(settings), stop), name="relay"
        ),
        asyncio.create_task(
            attachment_fetcher(settings, sessions, blob_store(settings)).run(
                stop, settings.attachment_fetch_interval_seconds
            ),
            name="fetch-attachments",
        ),
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
