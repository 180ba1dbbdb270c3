"""Shared fixtures: a real PostgreSQL and a real Kafka broker, given by the test command.

`make test` (through `python -m devstack run`) starts both and passes their addresses in
`ROUTER_TEST_DATABASE_URL` and `ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS`. A test that needs one
of them fails, never skips, when it is missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from router.db import create_engine, create_sessionmaker
from router.migrate import upgrade
from router.settings import Settings
from tests.relay import Relay

TEMPLATE = "router_template"


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the tests with `make test`, which starts a real "
            "PostgreSQL and Apache Kafka, or point this variable at running ones",
            pytrace=False,
        )
    return value


def _dsn(url: str, database: str) -> tuple[str, dict[str, str]]:
    """An asyncpg DSN for another database on the same server as `url`."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql", database=database)
    query = dict(parsed.query)
    host = query.pop("host", None)
    plain = parsed.set(query={})
    kwargs = {"host": str(host)} if host else {}
    return plain.render_as_string(hide_password=False), kwargs


@pytest.fixture(scope="session")
def server_url() -> str:
    return _required("ROUTER_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required("ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS")


async def _admin(server_url: str) -> asyncpg.Connection:
    dsn, kwargs = _dsn(server_url, "postgres")
    return await asyncpg.connect(dsn, **kwargs)


@pytest.fixture(scope="session")
async def template_database(server_url: str) -> str:
    """A database migrated once with the real migrations; each test copies it."""
    from sqlalchemy.engine import make_url

    admin = await _admin(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    url = make_url(server_url).set(database=TEMPLATE).render_as_string(hide_password=False)
    await upgrade(url)
    return TEMPLATE


async def fresh_database(server_url: str, template: str | None) -> str:
    """Create an empty (or template-copied) database and return its URL."""
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await _admin(server_url)
    try:
        suffix = f" TEMPLATE {template}" if template else ""
        await admin.execute(f"CREATE DATABASE {name}{suffix}")
    finally:
        await admin.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> str:
    """A fresh, fully migrated database of this test's own."""
    return await fresh_database(server_url, template_database)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(
    database_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Settings:
    """Settings for a router on this test's database and its own topics and group."""
    return Settings(
        database_url=database_url,  # type: ignore[arg-type]
        attachments_dir=tmp_path / "blobs",
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_inbound=f"{topic_prefix}.inbound",
        topic_events=f"{topic_prefix}.events",
        topic_dlq=f"{topic_prefix}.dlq",
        topic_partitions=4,
        consumer_group=f"{topic_prefix}-router",
        publish_timeout_seconds=5.0,
        consumer_http_port=0,  # routers started by a test listen on any free port
    )


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[Relay]:
    """A cuttable TCP path to this test's database (see `tests.relay`)."""
    relay = Relay(database_url)
    await relay.start()
    yield relay
    await relay.cut()
