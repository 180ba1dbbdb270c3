"""Each conversation's SLA clocks on a real PostgreSQL: set, met, paused, retargeted, and
published at risk and breached once each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.conversations import service
from router.db import in_transaction
from router.models import Conversation
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories, seed
from tests.integration.sla_steps import (
    agent,
    clocks,
    note,
    publish,
    reply,
    resolve,
    set_tier,
    sla_settings,
    sweep_slas,
    transfer,
)
from tests.integration.time_rules import Clock, only, outbox_types, set_rules
from tests.support import conversation_events

# A Friday afternoon in Berlin (CET, UTC+1): 16:30 local.
FRIDAY = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
BERLIN_NINE_TO_FIVE = {
    "time_zone": "Europe/Berlin",
    "weekly": {
        day: [{"opens": "09:00", "closes": "17:00"}]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
    },
}
EVERYONE = {
    "name": "everyone",
    "targets": {"first_response": 600, "next_response": 900, "resolution": 3600},
}


def at(seconds: float) -> datetime:
    return FRIDAY + timedelta(seconds=seconds)


async def _accepted_by_ann(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings
) -> tuple[uuid.UUID, uuid.UUID]:
    ann, _ = await seed.two_sms_agents(sessions, "ann", "ben")
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms("hi")])
    conversation = await only(sessions)
    await in_transaction(
        sessions,
        lambda s: service.accept_offer(s, settings, conversation.id, ann, at(10)),
    )
    return ann, conversation.id


async def test_no_policy_no_clocks(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url)
    await RoutingEngine(sessions, settings, clock=Clock(FRIDAY)).process([factories.sms()])
    assert await clocks(sessions, (await only(sessions)).id) == {}


async def test_clocks_follow_the_conversation_from_open_to_reopen(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url)
    assert await publish(sessions, EVERYONE) == 1
    clock = Clock(FRIDAY)
    ann, cid = await _accepted_by_ann(sessions, clock, settings)
    engine = RoutingEngine(sessions, settings, clock=clock)

    opened = await clocks(sessions, cid)
    assert set(opened) == {"first_response", "resolution"}
    assert (opened["first_response"].started_at, opened["first_response"].due_at) == (
        FRIDAY,
        at(600),
    )
    assert opened["resolution"].due_at == at(3600)
    assert (opened["first_response"].policy_name, opened["first_response"].policy_version) == (
        "everyone",
        1,
    )

    # The customer writes again before any answer: still the first response's wait.
    clock.now = at(60)
    await engine.process([factories.sms("anyone?")])
    assert set(await clocks(sessions, cid)) == {"first_response", "resolution"}

    await reply(sessions, settings, agent(ann), cid, at(120))
    answered = await clocks(sessions, cid)
    assert answered["first_response"].met_at == at(120)
    assert answered["resolution"].met_at is None

    clock.now = at(300)
    await engine.process([factories.sms("thanks, and my invoice?")])
    waiting = (await clocks(sessions, cid))["next_response"]
    assert (waiting.started_at, waiting.due_at, waiting.met_at) == (at(300), at(1200), None)

    # An internal note answers nobody.
    await note(sessions, agent(ann), cid, at(400))
    assert (await clocks(sessions, cid))["next_response"].met_at is None
    await reply(sessions, settings, agent(ann), cid, at(500))
    assert (await clocks(sessions, cid))["next_response"].met_at == at(500)

    await resolve(sessions, settings, agent(ann), cid, at(1000))
    resolved = await clocks(sessions, cid)
    assert (resolved["resolution"].met_at, resolved["resolution"].due_at) == (at(1000), at(3600))

    # Reopened by the customer: the 1000 s it spent resolved do not count, and a new wait
    # for an answer starts.
    clock.now = at(2000)
    await engine.process([factories.sms("it came broken")])
    reopened = await clocks(sessions, cid)
    assert reopened["resolution"].met_at is None
    assert reopened["resolution"].paused_seconds == 1000
    assert reopened["resolution"].due_at == at(4600)
    assert (reopened["next_response"].started_at, reopened["next_response"].due_at) == (
        at(2000),
        at(2900),
    )
    assert reopened["first_response"].met_at == at(120)


async def test_business_hours_and_a_transfer_that_retargets_from_the_start(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url)
    default = await seed.queue_id(sessions, "default")
    await set_rules(sessions, default, business_hours=BERLIN_NINE_TO_FIVE)
    vip = await seed.add_queue(sessions, "vip")
    await publish(
        sessions,
        {"name": "vip desk", "match": {"queues": ["vip"]}, "targets": {"first_response": 1800}},
        {"name": "office", "calendar": "business_hours", "targets": {"first_response": 3600}},
    )
    await RoutingEngine(sessions, settings, clock=Clock(FRIDAY)).process([factories.sms()])
    cid = (await only(sessions)).id
    # Half an hour on Friday (16:30-17:00 Berlin), the other half on Monday 09:00-09:30
    # Berlin, which is 08:30 UTC.
    office = (await clocks(sessions, cid))["first_response"]
    assert (office.policy_name, office.calendar) == ("office", "business_hours")
    assert office.due_at == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)

    # Moved to the vip desk: its 30 minutes, in every hour, count from the original start.
    supervisor = agent(None, Role.SUPERVISOR)
    await transfer(sessions, settings, supervisor, cid, vip, at(600))
    moved = (await clocks(sessions, cid))["first_response"]
    assert (moved.policy_name, moved.calendar) == ("vip desk", "always")
    assert (moved.started_at, moved.due_at) == (FRIDAY, at(1800))


async def test_a_vip_customer_gets_the_vip_policy_from_their_next_message(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url)
    await publish(
        sessions,
        {"name": "vip", "match": {"customer_tiers": ["vip"]}, "targets": {"first_response": 300}},
        EVERYONE,
    )
    clock = Clock(FRIDAY)
    engine = RoutingEngine(sessions, settings, clock=clock)
    vip, other = "+14155550111", "+14155550122"
    await engine.process([factories.sms(sender=vip)])
    [first] = await _conversations(sessions)
    assert (await clocks(sessions, first))["first_response"].policy_name == "everyone"

    await set_tier(sessions, "vip")  # the only customer so far
    clock.now = at(30)
    await engine.process([factories.sms(sender=other)])
    clock.now = at(60)
    await engine.process([factories.sms("hello?", sender=vip)])
    [second] = [cid for cid in await _conversations(sessions) if cid != first]
    # Matched again when the vip wrote: the vip target, counted from the original start.
    answered_first = (await clocks(sessions, first))["first_response"]
    assert (answered_first.policy_name, answered_first.due_at) == ("vip", at(300))
    answered_second = (await clocks(sessions, second))["first_response"]
    assert (answered_second.policy_name, answered_second.due_at) == ("everyone", at(630))


async def _conversations(sessions: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
    async with sessions() as session:
        return list((await session.scalars(select(Conversation.id))).all())


async def test_resolution_pauses_while_waiting_on_the_customer(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url)
    await publish(
        sessions,
        {
            "name": "patient",
            "targets": {"resolution": 3600},
            "pause_while_waiting_on_customer": True,
        },
    )
    clock = Clock(FRIDAY)
    ann, cid = await _accepted_by_ann(sessions, clock, settings)
    await reply(sessions, settings, agent(ann), cid, at(600))
    paused = (await clocks(sessions, cid))["resolution"]
    assert (paused.paused_since, paused.due_at) == (at(600), None)

    clock.now = at(1800)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms("still here")])
    running = (await clocks(sessions, cid))["resolution"]
    assert (running.paused_since, running.paused_seconds) == (None, 1200)
    assert running.due_at == at(4800)


async def test_at_risk_and_breached_are_published_once_each(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url, sla_at_risk_seconds=300)
    await publish(sessions, {"name": "quick", "targets": {"first_response": 600}})
    await RoutingEngine(sessions, settings, clock=Clock(FRIDAY)).process([factories.sms()])
    cid = (await only(sessions)).id

    assert await sweep_slas(sessions, settings, at(299)) == 0
    assert await sweep_slas(sessions, settings, at(300)) == 1
    assert await sweep_slas(sessions, settings, at(450)) == 0
    assert await sweep_slas(sessions, settings, at(600)) == 1
    assert await sweep_slas(sessions, settings, at(5000)) == 0

    [risk] = await conversation_events(sessions, cid, "sla.at_risk")
    [breach] = await conversation_events(sessions, cid, "sla.breached")
    assert risk.occurred_at == at(300)
    assert breach.occurred_at == at(600)
    assert breach.details == {
        "target": "first_response",
        "policy": "quick",
        "policy_version": 1,
        "started_at": FRIDAY.isoformat(),
        "due_at": at(600).isoformat(),
    }
    row = (await clocks(sessions, cid))["first_response"]
    assert (row.at_risk_at, row.breached_at) == (at(300), at(600))
    published = await outbox_types(sessions)
    assert published.count("router.conversation.sla.at_risk") == 1
    assert published.count("router.conversation.sla.breached") == 1


async def test_a_clock_met_in_time_is_never_published(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = sla_settings(database_url, sla_at_risk_seconds=300)
    await publish(
        sessions, {"name": "quick", "targets": {"first_response": 600}, "at_risk_seconds": 60}
    )
    clock = Clock(FRIDAY)
    ann, cid = await _accepted_by_ann(sessions, clock, settings)
    # The policy's own lead, not the setting's: at risk from 540 s.
    assert (await clocks(sessions, cid))["first_response"].at_risk_from == at(540)
    assert await sweep_slas(sessions, settings, at(300)) == 0
    await reply(sessions, settings, agent(ann), cid, at(500))
    assert await sweep_slas(sessions, settings, at(10_000)) == 0
    assert await conversation_events(sessions, cid, "sla.breached") == []
