"""Exclusions end on a real PostgreSQL: a conversation both agents let lapse is offered again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import transaction
from router.models import Conversation, ConversationEvent
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting, expire_offers
from router.routing.runner import sweep_forever
from router.settings import Settings
from tests import factories, seed

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,  # type: ignore[arg-type]
        offer_timeout_seconds=30,
        offer_exclusion_seconds=120,
        sweep_interval_seconds=0.05,
    )


async def _only(sessions: async_sessionmaker[AsyncSession]) -> Conversation:
    async with sessions() as session:
        [conversation] = (await session.scalars(select(Conversation))).all()
    return conversation


async def _sweep_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> None:
    """Run the consumer's sweep loop for one round on the clock's time."""
    stop = asyncio.Event()
    rounds = 0

    def ticking() -> datetime:
        nonlocal rounds
        rounds += 1
        if rounds == 2:  # expiry and drain of one round have read the clock
            stop.set()
        return clock()

    await asyncio.wait_for(sweep_forever(sessions, settings, stop, clock=ticking), 30)


async def test_after_both_agents_let_it_lapse_the_sweep_offers_it_again_once_the_window_ends(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    first, second = await seed.two_sms_agents(sessions, "ann", "ben")
    clock = Clock(NOW)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms()])
    assert (await _only(sessions)).agent_id == first

    clock.now += timedelta(seconds=31)
    await _sweep_once(sessions, settings, clock)
    assert (await _only(sessions)).agent_id == second
    clock.now += timedelta(seconds=31)
    await _sweep_once(sessions, settings, clock)
    waiting = await _only(sessions)
    assert waiting.agent_id is None
    ends = {
        str(first): (NOW + timedelta(seconds=31 + 120)).isoformat(),
        str(second): (NOW + timedelta(seconds=62 + 120)).isoformat(),
    }
    assert waiting.excluded_agents == {
        agent: {"reason": "timed out", "until": until} for agent, until in ends.items()
    }
    async with sessions() as session:
        [*_, lapsed, queued] = (
            await session.scalars(
                select(ConversationEvent)
                .where(ConversationEvent.conversation_id == waiting.id)
                .order_by(ConversationEvent.id)
            )
        ).all()
    assert lapsed.kind == "offer_timed_out"
    assert lapsed.details["excluded"] == {
        str(second): {"reason": "timed out", "until": ends[str(second)]}
    }
    assert queued.kind == "queued"
    assert queued.details["candidates"] == {
        f"excluded: timed out until {ends[str(first)]}": [str(first)],
        f"excluded: timed out until {ends[str(second)]}": [str(second)],
    }

    # Within the window both stay left out, however often the sweep runs.
    clock.now += timedelta(seconds=60)
    await _sweep_once(sessions, settings, clock)
    assert (await _only(sessions)).agent_id is None

    # The first agent's exclusion has ended: the sweep offers it to them.
    clock.now = NOW + timedelta(seconds=31 + 120)
    await _sweep_once(sessions, settings, clock)
    offered = await _only(sessions)
    assert (offered.agent_id, offered.offer_state) == (first, "offered")
    assert await seed.active(sessions, first) == 1
    assert await seed.active(sessions, second) == 0


async def test_a_customer_writing_again_gets_a_waiting_conversation_offered_at_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms("hi")])
    assert (await _only(sessions)).agent_id is None  # nobody to offer it to yet

    # An agent is free now, and no drain has run: the customer's next message finds them.
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(sessions, "cat", capacity={"sms": 1}, queues=[default])
    clock.now += timedelta(seconds=5)
    await engine.process([factories.sms("hello? anyone?")])
    conversation = await _only(sessions)
    assert (conversation.agent_id, conversation.offer_state) == (agent, "offered")
    assert await seed.active(sessions, agent) == 1
    assert await seed.history(sessions, conversation.id) == [
        "created",
        "queued",
        "queued",
        "offered",
    ]


async def test_a_customer_writing_again_does_not_undo_an_exclusion_in_force(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(sessions, "dot", capacity={"sms": 1}, queues=[default])
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms("hi")])
    clock.now += timedelta(seconds=31)
    async with transaction(sessions) as session:
        assert await expire_offers(session, settings, clock()) == 1
    clock.now += timedelta(seconds=5)
    await engine.process([factories.sms("hello? anyone?")])
    assert (await _only(sessions)).agent_id is None
    assert await seed.active(sessions, agent) == 0

    clock.now += timedelta(seconds=120)
    async with transaction(sessions) as session:
        assert await drain_waiting(session, settings, clock()) == 1
    assert (await _only(sessions)).agent_id == agent
