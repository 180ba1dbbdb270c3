"""The composition root: picks the database and the transport from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import create_engine, create_sessionmaker
from router.inbound.inline import InlinePublisher
from router.inbound.ports import InboundPublisher
from router.settings import Settings
from router.state import RouterState

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
    from router.routing.engine import RoutingEngine

    return InlinePublisher(RoutingEngine(sessions, settings))


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
    state = RouterState(settings, engine, sessions, publisher, database.label)
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
    from router.routing.runner import build_consumer, relay_forever, sweep_forever

    settings = state.settings
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    consumer = None
    if not settings.transport_is_kafka() or settings.serve_with_consumer:
        tasks.append(asyncio.create_task(sweep_forever(state.sessions, settings, stop)))
    if settings.transport_is_kafka() and settings.serve_with_consumer:
        tasks.append(asyncio.create_task(relay_forever(state.sessions, settings, stop)))
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
