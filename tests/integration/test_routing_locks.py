"""Routing and agents' actions contend only on the capacity row of the slot itself.

Routing never locks an `agents` row. An agent going offline and a routing claim on that
agent's slots meet on the agent's capacity rows: whichever locks them first wins, and either
way no offer is left with an agent who is not online. Each race is played out in order on
two connections, waiting until one side is seen blocked on the other's row locks.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel, Presence
from router.conversations import service
from router.db import transaction
from router.models import Conversation
from router.routing.board import load_board
from router.routing.engine import RoutingEngine, apply_events
from router.settings import Settings
from tests import factories, seed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
# A regression (waiting for a lock the protocol no longer takes) fails instead of hanging.
BOUND = 10


def _settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)  # type: ignore[call-arg]


async def _waiting_for_lock_on(sessions: async_sessionmaker[AsyncSession], table: str) -> None:
    """Return once some connection waits for a lock in a statement naming `table`."""
    for _ in range(BOUND * 50):
        # A fresh transaction each time: PostgreSQL reads activity once per transaction.
        async with sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    " AND query LIKE :pattern"
                ),
                {"pattern": f"%{table}%"},
            )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody waits for a lock on {table}")


async def _only_conversation(sessions: async_sessionmaker[AsyncSession]) -> Conversation:
    async with sessions() as session:
        [conversation] = (await session.scalars(select(Conversation))).all()
    return conversation


async def test_routing_and_a_locked_board_never_wait_for_an_agent_row(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    held = await seed.add_agent(sessions, "held", capacity={"sms": 2}, queues=[default])
    engine = RoutingEngine(sessions, _settings(database_url), clock=lambda: NOW)
    async with transaction(sessions) as other:
        # As an agent's own action or an administrator's edit of the agent would.
        await other.execute(
            text("SELECT id FROM agents WHERE id = :id FOR NO KEY UPDATE"), {"id": held}
        )
        await asyncio.wait_for(engine.process([factories.sms()]), BOUND)
        async with transaction(sessions) as sweep:
            board = await asyncio.wait_for(load_board(sweep, NOW, lock=True), BOUND)
        assert board.agents[str(held)].active == {Channel.SMS: 1}
    conversation = await _only_conversation(sessions)
    assert conversation.agent_id == held
    assert conversation.offer_state == "offered"
    assert await seed.active(sessions, held) == 1


async def test_a_claim_waiting_for_an_agent_going_offline_refuses_the_agent_afterwards(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Idle longest: routing picks the leaving agent first.
    leaving, staying = await seed.two_sms_agents(sessions, "leaving", "staying")
    settings = _settings(database_url)
    engine = RoutingEngine(sessions, settings, clock=lambda: NOW)
    async with transaction(sessions) as session:
        assert (
            await service.set_presence(
                session, settings, leaving, Presence.OFFLINE, NOW, actor="system"
            )
            == []
        )
        # The presence change holds the agent's capacity rows: the batch decides on the
        # agent (still online as far as it can see) and waits to claim the slot.
        routing = asyncio.create_task(engine.process([factories.sms()]))
        await _waiting_for_lock_on(sessions, "agent_capacities")
        assert not routing.done()
    await asyncio.wait_for(routing, BOUND)
    conversation = await _only_conversation(sessions)
    assert conversation.agent_id == staying
    assert conversation.offer_state == "offered"
    # The refused offer left no trace.
    assert await seed.history(sessions, conversation.id) == ["created", "queued", "offered"]
    assert await seed.active(sessions, leaving) == 0
    assert await seed.active(sessions, staying) == 1


async def test_an_agent_going_offline_after_a_claim_takes_the_new_offer_back(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    leaving = await seed.add_agent(sessions, "leaving", capacity={"sms": 1}, queues=[default])
    settings = _settings(database_url)

    async def go_offline() -> list[uuid.UUID]:
        async with transaction(sessions) as session:
            return await service.set_presence(
                session, settings, leaving, Presence.OFFLINE, NOW, actor="system"
            )

    async with transaction(sessions) as routing:
        await apply_events(routing, [factories.sms()], settings, NOW)
        # The batch holds the slot it claimed: going offline waits for it to commit.
        going = asyncio.create_task(go_offline())
        await _waiting_for_lock_on(sessions, "agent_capacities")
        assert not going.done()
    revoked = await asyncio.wait_for(going, BOUND)
    conversation = await _only_conversation(sessions)
    assert revoked == [conversation.id]
    assert conversation.agent_id is None
    assert conversation.offer_state is None
    assert conversation.queue_id == default
    assert await seed.history(sessions, conversation.id) == [
        "created",
        "queued",
        "offered",
        "offer_revoked",
    ]
    assert await seed.active(sessions, leaving) == 0
