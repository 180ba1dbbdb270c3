"""Overflow after waiting, on a real PostgreSQL: past the limit to the overflow queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.routing.engine import RoutingEngine
from tests import factories, seed
from tests.integration.time_rules import (
    Clock,
    kafka_settings,
    only,
    outbox_types,
    set_rules,
    sweep,
)
from tests.support import conversation_events

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


async def test_a_conversation_waiting_past_the_limit_moves_to_overflow_and_is_offered_there(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    night = await seed.add_queue(sessions, "night")
    busy = await seed.add_agent(sessions, "ann", capacity={"sms": 0}, queues=[default])
    cat = await seed.add_agent(sessions, "cat", capacity={"sms": 1}, queues=[night])
    await set_rules(sessions, default, max_wait_seconds=60, overflow_queue_id=night)
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([factories.sms("hi")])
    assert (await only(sessions)).queue_id == default

    assert await sweep(sessions, settings, NOW + timedelta(seconds=59)) == 0
    assert (await only(sessions)).queue_id == default
    assert await sweep(sessions, settings, NOW + timedelta(seconds=60)) == 1
    moved = await only(sessions)
    assert (moved.queue_id, moved.agent_id, moved.offer_state) == (night, cat, "offered")
    assert moved.waiting_since == NOW  # its arrival time, kept
    assert (await seed.active(sessions, cat), await seed.active(sessions, busy)) == (1, 0)
    [overflowed] = await conversation_events(sessions, moved.id, "overflowed")
    assert overflowed.queue_id == night
    assert overflowed.reason == "waited 60 s, longer than default's 60 s; overflow to night"
    assert overflowed.details["waiting_since"] == NOW.isoformat()
    assert (await seed.history(sessions, moved.id))[-2:] == ["overflowed", "offered"]
    assert "router.conversation.overflowed" in await outbox_types(sessions)


async def test_without_a_limit_only_closed_hours_overflow(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    night = await seed.add_queue(sessions, "night")
    await seed.add_agent(sessions, "cat", capacity={"sms": 1}, queues=[night])
    await set_rules(sessions, default, overflow_queue_id=night)
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([factories.sms("hi")])
    assert await sweep(sessions, settings, NOW + timedelta(days=3)) == 0
    waiting = await only(sessions)
    assert (waiting.queue_id, waiting.agent_id) == (default, None)
    assert await conversation_events(sessions, waiting.id, "overflowed") == []


async def test_a_chain_of_overflows_counts_each_queue_s_limit_from_the_move(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    night = await seed.add_queue(sessions, "night")
    await set_rules(sessions, default, max_wait_seconds=60, overflow_queue_id=night)
    # Back and forth: each move waits a full limit in the queue it moved to.
    await set_rules(sessions, night, max_wait_seconds=300, overflow_queue_id=default)
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([factories.sms("hi")])

    assert await sweep(sessions, settings, NOW + timedelta(seconds=400)) == 1
    assert (await only(sessions)).queue_id == night
    assert await sweep(sessions, settings, NOW + timedelta(seconds=699)) == 0
    assert await sweep(sessions, settings, NOW + timedelta(seconds=700)) == 1
    back = await only(sessions)
    assert back.queue_id == default
    assert back.waiting_since == NOW
    assert len(await conversation_events(sessions, back.id, "overflowed")) == 2
