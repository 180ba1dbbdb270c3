"""Pooled connections: tested after resting in the pool, not before every transaction."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from router.db import create_engine


async def _backend(engine: AsyncEngine) -> int:
    async with engine.begin() as connection:
        pid: int = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def _terminate(database_url: str, pid: int) -> None:
    other = create_engine(database_url, pool_size=1)
    try:
        async with other.begin() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()
    await asyncio.sleep(0.05)  # the server closes the socket just after answering


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ping the driver adapter sends (it still sends them: this only counts)."""
    sent: list[int] = []
    original = AsyncAdapt_asyncpg_connection.ping

    def counted(self: AsyncAdapt_asyncpg_connection) -> None:
        sent.append(1)
        original(self)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    return sent


async def test_a_connection_closed_while_resting_is_replaced_before_use(
    database_url: str, pings: list[int]
) -> None:
    engine = create_engine(database_url, pool_size=1, ping_after_idle=0.2)
    try:
        first = await _backend(engine)
        await _terminate(database_url, first)
        await asyncio.sleep(0.3)

        # Tested at checkout, found closed, replaced: the caller never sees the dead one.
        second = await _backend(engine)
        assert second != first
        assert len(pings) == 1
    finally:
        await engine.dispose()


async def test_a_rested_connection_is_tested_once_then_reused_untested(
    database_url: str, pings: list[int]
) -> None:
    engine = create_engine(database_url, pool_size=1, ping_after_idle=0.2)
    try:
        first = await _backend(engine)
        assert await _backend(engine) == first
        assert pings == []
        await asyncio.sleep(0.3)
        assert await _backend(engine) == first  # rested: tested, alive, kept
        assert await _backend(engine) == first
        assert len(pings) == 1
    finally:
        await engine.dispose()


async def test_a_busy_connection_that_dies_fails_once_and_the_pool_renews(
    database_url: str, pings: list[int]
) -> None:
    engine = create_engine(database_url, pool_size=1, ping_after_idle=60)
    try:
        first = await _backend(engine)
        for _ in range(5):
            assert await _backend(engine) == first
        assert pings == []

        # Closed moments after its last use: the next transaction fails like any transaction
        # on a connection that dies under it, and the one after gets a new connection.
        await _terminate(database_url, first)
        with pytest.raises(DBAPIError):
            await _backend(engine)
        assert await _backend(engine) != first
    finally:
        await engine.dispose()
