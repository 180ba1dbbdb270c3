"""A conversation locked twice in one transaction is read from the database once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from router.conversations.service import lock_conversation
from router.db import transaction
from router.models import Conversation
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories


async def _one_conversation(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> uuid.UUID:
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    await RoutingEngine(sessions, settings).process([factories.sms()])
    async with sessions() as session:
        return (await session.scalars(select(Conversation.id))).one()


@pytest.fixture
def locks(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements that lock conversations, as the engine sends them."""
    sent: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FOR UPDATE" in statement and "FROM conversations" in statement:
            sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    yield sent
    event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_the_second_lock_in_a_transaction_costs_no_round_trip(
    database_url: str, sessions: async_sessionmaker[AsyncSession], locks: list[str]
) -> None:
    cid = await _one_conversation(database_url, sessions)
    async with transaction(sessions) as session:
        first = await lock_conversation(session, cid)
        second = await lock_conversation(session, cid)
        assert first is not None
        assert second is first
        assert await lock_conversation(session, uuid.uuid4()) is None
    assert len(locks) == 2  # the conversation once, the unknown id once

    # A new transaction holds no lock yet: it reads (and locks) again.
    async with transaction(sessions) as session:
        assert await lock_conversation(session, cid) is not None
    assert len(locks) == 3


async def test_a_session_that_begins_again_locks_again(
    database_url: str, sessions: async_sessionmaker[AsyncSession], locks: list[str]
) -> None:
    cid = await _one_conversation(database_url, sessions)
    async with sessions() as session:
        async with session.begin():
            await lock_conversation(session, cid)
        async with session.begin():  # the first transaction's lock ended with it
            await lock_conversation(session, cid)
    assert len(locks) == 2
