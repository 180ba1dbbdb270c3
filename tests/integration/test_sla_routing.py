"""A queue ordered by SLA due time offers the conversation about to breach first, on a real
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.db import in_transaction
from router.models import Conversation
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting
from tests import factories, seed
from tests.integration.sla_steps import clocks, publish, set_tier, sla_settings
from tests.integration.time_rules import Clock, go, set_rules, sweep

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ALICE, BRUNO = "+14155550111", "+14155550122"


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(("order", "offered_first"), [("sla_due", BRUNO), ("arrival", ALICE)])
async def test_the_drain_offers_the_conversation_about_to_breach_first(
    database_url: str, sessions: async_sessionmaker[AsyncSession], order: str, offered_first: str
) -> None:
    settings = sla_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    await set_rules(sessions, default, order_waiting=order)
    ann = await seed.add_agent(
        sessions, "ann", capacity={"sms": 1}, queues=[default], presence="offline"
    )
    await publish(
        sessions,
        {"name": "vip", "match": {"customer_tiers": ["vip"]}, "targets": {"first_response": 300}},
        {"name": "everyone", "targets": {"first_response": 3600}},
    )
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms(sender=ALICE)])
    clock.now = at(30)
    await engine.process([factories.sms(sender=BRUNO)])
    by_sender = await _conversations_by_sender(sessions)
    await set_tier(sessions, "vip", by_sender[BRUNO].customer_id)
    clock.now = at(60)
    await engine.process([factories.sms("still waiting", sender=BRUNO)])
    # Alice came first; Bruno, a vip since, is due long before her.
    assert (await clocks(sessions, by_sender[ALICE].id))["first_response"].due_at == at(3600)
    assert (await clocks(sessions, by_sender[BRUNO].id))["first_response"].due_at == at(330)

    await go(sessions, settings, ann, Presence.ONLINE, at(90))
    assert await in_transaction(sessions, lambda s: drain_waiting(s, settings, at(90))) == 1
    offered = {
        sender: row.agent_id for sender, row in (await _conversations_by_sender(sessions)).items()
    }
    assert offered[offered_first] == ann
    assert [sender for sender, agent in offered.items() if agent is None] == [
        ALICE if offered_first == BRUNO else BRUNO
    ]


async def _conversations_by_sender(
    sessions: async_sessionmaker[AsyncSession], *senders: str
) -> dict[str, Conversation]:
    """The conversations, oldest first, by the senders who opened them in that order."""
    async with sessions() as session:
        rows = (await session.scalars(select(Conversation).order_by(Conversation.created_at))).all()
    return dict(zip(senders or (ALICE, BRUNO), rows, strict=True))


async def test_an_overflow_to_another_queue_retargets_the_clock(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    vip = await seed.add_queue(sessions, "vip")
    await set_rules(sessions, default, max_wait_seconds=60, overflow_queue_id=vip)
    await publish(
        sessions,
        {"name": "vip desk", "match": {"queues": ["vip"]}, "targets": {"first_response": 300}},
        {"name": "everyone", "targets": {"first_response": 3600}},
    )
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([factories.sms()])
    [conversation] = (await _conversations_by_sender(sessions, ALICE)).values()
    assert (await clocks(sessions, conversation.id))["first_response"].due_at == at(3600)

    assert await sweep(sessions, settings, at(60)) == 1
    moved = (await clocks(sessions, conversation.id))["first_response"]
    assert (moved.policy_name, moved.started_at, moved.due_at) == ("vip desk", NOW, at(300))
