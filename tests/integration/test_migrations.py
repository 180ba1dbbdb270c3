"""The real migrations apply up and down on PostgreSQL and match the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from router.db import create_engine
from router.migrate import downgrade, upgrade
from router.models import Base
from tests.conftest import fresh_database

CORE_TABLES = {
    "agents",
    "agent_capacities",
    "queues",
    "queue_agents",
    "routing_policies",
    "customers",
    "customer_identities",
    "conversations",
    "conversation_threads",
    "messages",
    "conversation_events",
    "outbox",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade(server_url: str) -> None:
    url = await fresh_database(server_url, None)
    assert await _tables(url) == set()

    await upgrade(url)
    assert await _tables(url) >= CORE_TABLES

    await downgrade(url, "base")
    assert await _tables(url) == set()

    await upgrade(url)
    assert await _tables(url) >= CORE_TABLES


async def test_migrations_match_the_models(database_url: str) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    await upgrade(database_url)
    assert await _tables(database_url) >= CORE_TABLES
