"""An owner who leaves, on a real PostgreSQL: accepted work goes back to the queue after grace."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.models import Conversation
from router.routing.engine import RoutingEngine
from tests import factories, seed
from tests.integration.time_rules import (
    Clock,
    accept,
    go,
    kafka_settings,
    only,
    outbox_types,
    set_rules,
    sweep,
)
from tests.support import conversation_events

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


async def test_the_customer_writing_after_the_grace_sends_it_back_with_its_place(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    ann, ben = await seed.two_sms_agents(sessions, "ann", "ben")
    default = await seed.queue_id(sessions, "default")
    await set_rules(sessions, default, on_owner_away="requeue_after", owner_away_grace_seconds=60)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms("hi")])
    await accept(sessions, settings, ann, clock.advance(5))
    left = clock.advance(10)
    await go(sessions, settings, ann, Presence.AWAY, left)

    # Within the grace period the owner keeps it, whatever the customer writes.
    clock.advance(59)
    await engine.process([factories.sms("still there?")])
    kept = await only(sessions)
    assert (kept.agent_id, kept.offer_state) == (ann, "accepted")
    assert await seed.active(sessions, ann) == 1

    clock.advance(2)
    await engine.process([factories.sms("hello??")])
    moved = await only(sessions)
    assert (moved.agent_id, moved.offer_state) == (ben, "offered")
    assert moved.waiting_since == NOW  # its place in the queue, from when it first waited
    assert await seed.active(sessions, ann) == 0
    assert await seed.active(sessions, ben) == 1
    [requeued] = await conversation_events(sessions, moved.id, "requeued")
    assert requeued.agent_id == ann
    assert requeued.reason == (
        f"owner away since {left.isoformat()}, longer than the queue's 60 s grace"
    )
    assert requeued.details["waiting_since"] == NOW.isoformat()
    assert (await seed.history(sessions, moved.id))[-2:] == ["requeued", "offered"]
    assert "router.conversation.requeued" in await outbox_types(sessions)


async def test_by_default_the_owner_keeps_accepted_work_however_long_they_are_gone(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    ann, ben = await seed.two_sms_agents(sessions, "ann", "ben")
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms("hi")])
    await accept(sessions, settings, ann, clock.advance(5))
    await go(sessions, settings, ann, Presence.OFFLINE, clock.advance(10))

    clock.advance(3600)
    await engine.process([factories.sms("hello??")])
    assert await sweep(sessions, settings, clock.advance(1)) == 0
    kept = await only(sessions)
    assert (kept.agent_id, kept.offer_state) == (ann, "accepted")
    assert await seed.active(sessions, ann) == 1
    assert await seed.active(sessions, ben) == 0
    assert await conversation_events(sessions, kept.id, "requeued") == []


async def test_the_sweep_sends_back_an_unanswered_conversation_of_a_gone_owner(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    ann, ben = await seed.two_sms_agents(sessions, "ann", "ben")
    default = await seed.queue_id(sessions, "default")
    await set_rules(sessions, default, on_owner_away="requeue_after", owner_away_grace_seconds=60)
    clock = Clock(NOW)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms("hi")])
    await accept(sessions, settings, ann, clock.advance(5))
    await go(sessions, settings, ann, Presence.OFFLINE, clock.advance(10))

    assert await sweep(sessions, settings, clock.advance(59)) == 0
    assert (await only(sessions)).agent_id == ann
    # The customer's first message is still unanswered: no need to wait for them to write.
    assert await sweep(sessions, settings, clock.advance(2)) == 1
    moved = await only(sessions)
    assert (moved.agent_id, moved.offer_state) == (ben, "offered")
    assert moved.waiting_since == NOW
    assert (await seed.active(sessions, ann), await seed.active(sessions, ben)) == (0, 1)
    [requeued] = await conversation_events(sessions, moved.id, "requeued")
    assert requeued.details["presence"] == "offline"
    # Done once: the next sweep finds nothing more to move.
    assert await sweep(sessions, settings, clock.advance(60)) == 0


async def test_the_sweep_leaves_a_gone_owner_the_conversations_nobody_waits_on(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    ann, _ = await seed.two_sms_agents(sessions, "ann", "ben")
    default = await seed.queue_id(sessions, "default")
    await set_rules(sessions, default, on_owner_away="requeue_after", owner_away_grace_seconds=60)
    clock = Clock(NOW)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms("hi")])
    await accept(sessions, settings, ann, clock.advance(5))
    async with sessions() as session, session.begin():
        # As after the owner's reply (the console's reply is tested with the console API).
        await session.execute(update(Conversation).values(awaiting_reply_since=None))
    await go(sessions, settings, ann, Presence.OFFLINE, clock.advance(10))

    assert await sweep(sessions, settings, clock.advance(3600)) == 0
    kept = await only(sessions)
    assert (kept.agent_id, kept.offer_state) == (ann, "accepted")
    assert await seed.active(sessions, ann) == 1
