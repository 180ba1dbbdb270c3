"""No reply in time, on a real PostgreSQL: flagged once, then kept, requeued or offered on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.routing.engine import RoutingEngine
from router.settings import Settings
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


async def _accepted_by_ann(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock, **rules: object
) -> tuple[uuid.UUID, uuid.UUID]:
    """Ann and Ben serve the default queue (with `rules`); Ann accepts the customer's message."""
    ann, ben = await seed.two_sms_agents(sessions, "ann", "ben")
    await set_rules(sessions, await seed.queue_id(sessions, "default"), **rules)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms("hi")])
    await accept(sessions, settings, ann, clock.advance(10))
    return ann, ben


async def test_a_silent_owner_is_flagged_once_per_unanswered_message_and_keeps_it(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    clock = Clock(NOW)
    ann, _ = await _accepted_by_ann(sessions, settings, clock, reply_time_seconds=120)

    # The clock runs from the customer's message (before the owner got it, here).
    assert await sweep(sessions, settings, NOW + timedelta(seconds=119)) == 0
    assert await sweep(sessions, settings, NOW + timedelta(seconds=120)) == 1
    flagged = await only(sessions)
    assert (flagged.agent_id, flagged.offer_state) == (ann, "accepted")
    assert flagged.reply_overdue_at == NOW + timedelta(seconds=120)
    [flag] = await conversation_events(sessions, flagged.id, "reply_overdue")
    assert flag.agent_id == ann
    assert flag.reason == "no reply within the queue's 120 s"
    assert flag.details == {
        "awaiting_reply_since": NOW.isoformat(),
        "reply_time_seconds": 120,
        "on_no_reply": "flag",
    }
    assert (await outbox_types(sessions)).count("router.conversation.reply_overdue") == 1
    assert await seed.active(sessions, ann) == 1

    # Not at every sweep: the same unanswered message is flagged once.
    for later in (200, 400, 4000):
        assert await sweep(sessions, settings, NOW + timedelta(seconds=later)) == 0
    assert len(await conversation_events(sessions, flagged.id, "reply_overdue")) == 1
    assert (await outbox_types(sessions)).count("router.conversation.reply_overdue") == 1


async def test_without_a_reply_time_nobody_is_flagged(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    clock = Clock(NOW)
    ann, _ = await _accepted_by_ann(sessions, settings, clock, on_no_reply="next_agent")
    assert await sweep(sessions, settings, NOW + timedelta(days=2)) == 0
    kept = await only(sessions)
    assert (kept.agent_id, kept.offer_state) == (ann, "accepted")
    assert await conversation_events(sessions, kept.id, "reply_overdue") == []


async def test_requeue_sends_it_back_keeping_its_place_and_leaves_the_silent_owner_out(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    clock = Clock(NOW)
    ann, ben = await _accepted_by_ann(
        sessions, settings, clock, reply_time_seconds=120, on_no_reply="requeue"
    )
    moment = NOW + timedelta(seconds=121)
    assert await sweep(sessions, settings, moment) == 1
    # Back in the queue, then offered by the drain to the other agent, never to the silent one.
    moved = await only(sessions)
    assert (moved.agent_id, moved.offer_state) == (ben, "offered")
    assert moved.waiting_since == NOW
    until = (moment + timedelta(seconds=120)).isoformat()
    assert moved.excluded_agents == {str(ann): {"reason": "no reply", "until": until}}
    assert (await seed.active(sessions, ann), await seed.active(sessions, ben)) == (0, 1)
    assert (await seed.history(sessions, moved.id))[-3:] == [
        "reply_overdue",
        "requeued",
        "offered",
    ]
    [requeued] = await conversation_events(sessions, moved.id, "requeued")
    assert requeued.agent_id == ann


async def test_requeue_with_nobody_else_free_leaves_it_waiting_and_the_slot_freed(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    ann = await seed.add_agent(sessions, "ann", capacity={"sms": 1}, queues=[default])
    await set_rules(sessions, default, reply_time_seconds=60, on_no_reply="requeue")
    clock = Clock(NOW)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms("hi")])
    await accept(sessions, settings, ann, clock.advance(5))
    assert await sweep(sessions, settings, NOW + timedelta(seconds=61)) == 1
    waiting = await only(sessions)
    assert (waiting.agent_id, waiting.offer_state, waiting.queue_id) == (None, None, default)
    assert await seed.active(sessions, ann) == 0
    # Once the exclusion ends, the drain may offer it to her again, like any lapsed offer.
    assert await sweep(sessions, settings, NOW + timedelta(seconds=61 + 120)) == 0
    again = await only(sessions)
    assert (again.agent_id, again.offer_state) == (ann, "offered")
    assert await seed.active(sessions, ann) == 1


async def test_next_agent_offers_it_on_at_once_and_the_new_owner_gets_a_fresh_clock(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    clock = Clock(NOW)
    ann, ben = await _accepted_by_ann(
        sessions, settings, clock, reply_time_seconds=120, on_no_reply="next_agent"
    )
    moment = NOW + timedelta(seconds=120)
    assert await sweep(sessions, settings, moment) == 1
    offered = await only(sessions)
    assert (offered.agent_id, offered.offer_state) == (ben, "offered")
    assert (await seed.active(sessions, ann), await seed.active(sessions, ben)) == (0, 1)
    assert str(ann) in offered.excluded_agents
    assert (await seed.history(sessions, offered.id))[-3:] == [
        "reply_overdue",
        "requeued",
        "offered",
    ]

    # His reply time counts from his offer, not from the customer's old message.
    clock.now = moment + timedelta(seconds=10)
    await accept(sessions, settings, ben, clock.now)
    assert await sweep(sessions, settings, clock.now + timedelta(seconds=100)) == 0
    assert await sweep(sessions, settings, moment + timedelta(seconds=120)) == 1
    moved = await only(sessions)
    # Ann's exclusion has just ended and Ben's begins: it goes to her, his slot is freed.
    assert (moved.agent_id, moved.offer_state) == (ann, "offered")
    assert str(ben) in moved.excluded_agents
    assert (await seed.active(sessions, ann), await seed.active(sessions, ben)) == (1, 0)
    assert len(await conversation_events(sessions, moved.id, "reply_overdue")) == 2


async def test_a_silent_owner_who_went_away_has_the_slot_freed_as_it_moves_on(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = kafka_settings(database_url)
    clock = Clock(NOW)
    ann, ben = await _accepted_by_ann(
        sessions, settings, clock, reply_time_seconds=120, on_no_reply="next_agent"
    )
    await go(sessions, settings, ann, Presence.AWAY, clock.advance(5))  # kept: on_owner_away keep
    assert await sweep(sessions, settings, NOW + timedelta(seconds=120)) == 1
    offered = await only(sessions)
    assert (offered.agent_id, offered.offer_state) == (ben, "offered")
    assert (await seed.active(sessions, ann), await seed.active(sessions, ben)) == (0, 1)
