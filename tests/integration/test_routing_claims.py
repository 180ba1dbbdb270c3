"""Slots claimed after deciding: what another router process changed meanwhile wins.

The routing engine decides on an unlocked board and claims the slots at the end of its
transaction. These tests make the world change between the decision and the claim, as a
second router process or an agent going offline would, and check the claim refuses what is
no longer free and the engine decides those offers again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel
from router.db import transaction
from router.models import Agent, AgentCapacity, Conversation, ConversationEvent
from router.routing.board import load_board
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting
from router.settings import Settings
from tests import factories, seed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


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
    assert await seed.active(sessions, full) == 1
    assert await seed.active(sessions, free) == 2


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
    assert await seed.active(sessions, leaving) == 0


async def test_a_refused_offer_is_decided_again_and_goes_to_an_agent_with_room(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The idlest agent is picked first on the unlocked board ...
    first, second = await seed.two_sms_agents(sessions, "first", "second")
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
    assert await seed.active(sessions, first) == 1
    assert await seed.active(sessions, second) == 1


async def test_a_drain_whose_slot_is_taken_meanwhile_leaves_the_conversation_waiting(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The drain plans on an unlocked board; a slot given away before its claim is refused,
    and the conversation keeps waiting with no trace of the offer it planned."""
    settings = Settings(database_url=database_url)  # type: ignore[call-arg]
    await RoutingEngine(sessions, settings, clock=lambda: NOW).process([factories.sms()])
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(sessions, "last-slot", capacity={"sms": 1}, queues=[default])

    async with transaction(sessions) as other:
        # Another router process gives the slot away: the drain still reads it as free (not
        # committed yet), plans the offer, and waits for this transaction at its claim.
        await other.execute(
            update(AgentCapacity).where(AgentCapacity.agent_id == agent).values(active=1)
        )
        drain = asyncio.create_task(_drain(sessions, settings))
        await _until_waiting_on_capacity(sessions)
    assert await drain == 0

    async with sessions() as session:
        [conversation] = (await session.scalars(select(Conversation))).all()
        kinds = (await session.scalars(select(ConversationEvent.kind))).all()
    assert conversation.agent_id is None
    assert (conversation.offer_state, conversation.offered_at) == (None, None)
    assert "offered" not in kinds
    assert await seed.active(sessions, agent) == 1


async def _drain(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    async with transaction(sessions) as session:
        return await drain_waiting(session, settings, NOW)


async def _until_waiting_on_capacity(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Until some session waits for a lock in a statement on agent_capacities."""
    for _ in range(200):
        async with sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query ILIKE '%agent_capacities%'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the second drain never waited for the first one's claim")


async def _three_waiting(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> tuple[Settings, list[Conversation]]:
    """Three sms conversations waiting in the default queue, oldest first; nobody online."""
    settings = Settings(database_url=database_url)  # type: ignore[call-arg]
    engine = RoutingEngine(sessions, settings, clock=lambda: NOW)
    for n in range(3):
        await engine.process([factories.sms(sender=f"+1415555020{n}")])
    async with sessions() as session:
        waiting = (
            await session.scalars(
                select(Conversation).order_by(Conversation.waiting_since, Conversation.id)
            )
        ).all()
    assert [c.agent_id for c in waiting] == [None, None, None]
    return settings, list(waiting)


async def _lockable(sessions: async_sessionmaker[AsyncSession], conversation: Conversation) -> bool:
    """Whether another transaction could lock the conversation right now."""
    async with transaction(sessions) as other:
        found = await other.execute(
            text("SELECT id FROM conversations WHERE id = :id FOR UPDATE SKIP LOCKED"),
            {"id": conversation.id},
        )
        return found.first() is not None


async def test_a_drain_locks_only_the_conversations_it_offers(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings, waiting = await _three_waiting(database_url, sessions)
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(sessions, "one-slot", capacity={"sms": 1}, queues=[default])

    async with transaction(sessions) as session:
        assert await drain_waiting(session, settings, NOW) == 1
        # Before the drain commits: the offered conversation is locked, the backlog is not
        # (a customer's next message in it, or another drain, need not wait for this one).
        assert [await _lockable(sessions, c) for c in waiting] == [False, True, True]

    async with sessions() as session:
        owners = [
            await session.scalar(select(Conversation.agent_id).where(Conversation.id == c.id))
            for c in waiting
        ]
    assert owners == [agent, None, None]


async def test_a_drain_leaves_a_planned_conversation_locked_elsewhere_for_the_next_one(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings, waiting = await _three_waiting(database_url, sessions)
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(sessions, "one-slot", capacity={"sms": 1}, queues=[default])

    async with transaction(sessions) as holder:
        # A routing batch holds the oldest conversation (its customer wrote again).
        await holder.execute(
            text("SELECT id FROM conversations WHERE id = :id FOR UPDATE"), {"id": waiting[0].id}
        )
        # The drain neither waits for it nor offers it: nothing is offered this round.
        assert await asyncio.wait_for(_drain(sessions, settings), timeout=5) == 0
    assert await seed.active(sessions, agent) == 0

    assert await _drain(sessions, settings) == 1
    async with sessions() as session:
        first = await session.get_one(Conversation, waiting[0].id)
    assert (first.agent_id, first.offer_state) == (agent, "offered")
    assert await seed.active(sessions, agent) == 1
