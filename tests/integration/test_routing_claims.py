"""Slots claimed after deciding: what another router process changed meanwhile wins.

The routing engine decides on an unlocked board and claims the slots at the end of its
transaction. These tests make the world change between the decision and the claim, as a
second router process or an agent going offline would, and check the claim refuses what is
no longer free and the engine decides those offers again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel
from router.db import transaction
from router.models import Agent, AgentCapacity, Conversation, ConversationEvent
from router.routing.board import load_board
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories, seed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def _active(sessions: async_sessionmaker[AsyncSession], agent: uuid.UUID) -> int:
    async with sessions() as session:
        value = await session.scalar(
            select(AgentCapacity.active).where(AgentCapacity.agent_id == agent)
        )
    assert value is not None
    return value


async def test_a_claim_refuses_a_slot_taken_meanwhile_and_keeps_the_ones_still_free(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    default = await seed.queue_id(sessions, "default")
    full = await seed.add_agent(sessions, "soon-full", capacity={"sms": 1}, queues=[default])
    free = await seed.add_agent(sessions, "free", capacity={"sms": 2}, queues=[default])
    async with transaction(sessions) as session:
        board = await load_board(session, NOW)
        board.take(str(full), Channel.SMS)
        board.take(str(free), Channel.SMS)
        board.take(str(free), Channel.SMS)
        # Another router process gives the last slot away and commits first.
        async with transaction(sessions) as other:
            await other.execute(
                update(AgentCapacity).where(AgentCapacity.agent_id == full).values(active=1)
            )
        refused = await board.save(session)
    assert refused == {(str(full), Channel.SMS)}
    assert await _active(sessions, full) == 1
    assert await _active(sessions, free) == 2


async def test_a_claim_refuses_every_slot_of_an_agent_who_went_offline(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    default = await seed.queue_id(sessions, "default")
    leaving = await seed.add_agent(sessions, "leaving", capacity={"sms": 3}, queues=[default])
    async with transaction(sessions) as session:
        board = await load_board(session, NOW)
        board.take(str(leaving), Channel.SMS)
        async with transaction(sessions) as other:
            await other.execute(update(Agent).where(Agent.id == leaving).values(presence="away"))
        refused = await board.save(session)
    assert refused == {(str(leaving), Channel.SMS)}
    assert await _active(sessions, leaving) == 0


async def test_a_refused_offer_is_decided_again_and_goes_to_an_agent_with_room(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    # The idlest agent is picked first on the unlocked board ...
    first = await seed.add_agent(
        sessions,
        "first",
        capacity={"sms": 1},
        queues=[default],
        idle_since=datetime(2026, 1, 1, tzinfo=UTC),
    )
    second = await seed.add_agent(sessions, "second", capacity={"sms": 1}, queues=[default])
    async with transaction(sessions) as session:
        # ... and while the batch is applied, another process takes that agent's only slot
        # (here: a trigger on the batch's message insert, in the batch's own transaction).
        await session.execute(
            text(
                """
                CREATE FUNCTION take_first_slot() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE agent_capacities SET active = capacity
                    WHERE agent_id = '"""
                + str(first)
                + """';
                    RETURN NULL;
                END $$
                """
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER take_first_slot AFTER INSERT ON messages "
                "FOR EACH STATEMENT EXECUTE FUNCTION take_first_slot()"
            )
        )
    settings = Settings(database_url=database_url)  # type: ignore[call-arg]
    await RoutingEngine(sessions, settings, clock=lambda: NOW).process([factories.sms()])
    async with sessions() as session:
        [conversation] = (await session.scalars(select(Conversation))).all()
        kinds = (
            await session.scalars(
                select(ConversationEvent.kind)
                .where(ConversationEvent.conversation_id == conversation.id)
                .order_by(ConversationEvent.id)
            )
        ).all()
    assert conversation.agent_id == second
    assert conversation.offer_state == "offered"
    # The refused offer left no trace: one offer, to the agent who got the slot.
    assert list(kinds) == ["created", "queued", "offered"]
    assert await _active(sessions, first) == 1
    assert await _active(sessions, second) == 1
