"""Statements sent straight to the driver belong to the session's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import driver_connection, transaction


class _Undo(Exception):
    pass


async def test_driver_statements_roll_back_with_the_session(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def insert_then_fail() -> None:
        async with transaction(sessions) as session:
            # The first statement of the transaction goes straight to the driver.
            connection = await driver_connection(session)
            await connection.execute(
                "INSERT INTO customers (id, display_name, attributes)"
                " VALUES (gen_random_uuid(), 'gone', '{}')"
            )
            await session.execute(text("SELECT 1"))
            raise _Undo

    with pytest.raises(_Undo):
        await insert_then_fail()
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM customers")) == 0


async def test_driver_statements_commit_with_the_session(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        connection = await driver_connection(session)
        await connection.execute(
            "INSERT INTO customers (id, display_name, attributes)"
            " VALUES (gen_random_uuid(), 'kept', '{}')"
        )
        # A lock taken this way is held until the session commits.
        assert connection.is_in_transaction()
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM customers")) == 1
