"""Each measure of a conversation, by hand, on the real database and the real services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.channels.twilio_voice import call_status, incoming_call
from router.channels import Presence
from router.db import in_transaction
from router.models import (
    Conversation,
    ConversationResolution,
    ConversationResponse,
    MeasureObservation,
)
from router.reports.feed import feed_histograms
from tests import seed
from tests.reports.desk import Desk

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ALICE = "+14155550101"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _conversation_ids(sessions: async_sessionmaker[AsyncSession]) -> list[uuid.UUID]:
    async with sessions() as session:
        return list((await session.scalars(select(Conversation.id))).all())


async def _responses(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[float, bool]]:
    async with sessions() as session:
        rows = await session.execute(
            select(ConversationResponse.seconds, ConversationResponse.first).order_by(
                ConversationResponse.responded_at
            )
        )
        return [(row[0], row[1]) for row in rows]


async def _resolutions(
    sessions: async_sessionmaker[AsyncSession],
) -> list[tuple[float, float | None, bool]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                ConversationResolution.resolution_seconds,
                ConversationResolution.handle_seconds,
                ConversationResolution.abandoned,
            ).order_by(ConversationResolution.resolved_at)
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def test_waits_responses_handle_and_resolution_times_of_one_conversation(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk.clock.at(T0)
    ann, ben = await seed.two_sms_agents(sessions, "ann", "ben")
    await desk.goes(ann, Presence.OFFLINE)
    await desk.goes(ben, Presence.OFFLINE)
    cid = await desk.writes(ALICE, "my parcel is late")  # t=0, nobody is online
    desk.clock.at(at(20))
    await desk.goes(ann, Presence.ONLINE)
    await desk.sweeps()  # offered to Ann at t=20
    assert await desk.owner(cid) == (ann, "offered")
    desk.clock.at(at(35))
    await desk.accepts(ann, cid)
    desk.clock.at(at(40))
    await desk.writes(ALICE, "hello?")
    desk.clock.at(at(70))
    await desk.notes(ann, cid)  # an internal note answers nobody
    desk.clock.at(at(100))
    await desk.replies(ann, cid)  # first response: 100 s after the first message
    desk.clock.at(at(130))
    await desk.writes(ALICE, "thanks, and the invoice?")
    desk.clock.at(at(150))
    await desk.writes(ALICE, "??")
    desk.clock.at(at(200))
    await desk.replies(ann, cid)  # next response: from t=130, 70 s
    desk.clock.at(at(210))
    await desk.replies(ann, cid)  # nobody waits: not a response
    desk.clock.at(at(255))
    await desk.goes(ben, Presence.ONLINE)
    desk.clock.at(at(260))
    await desk.transfers(ann, cid, ben)
    desk.clock.at(at(270))
    await desk.accepts(ben, cid)
    desk.clock.at(at(300))
    await desk.resolves(ben, cid)  # resolution 300 s, handle 35 -> 300: 265 s

    desk.clock.at(at(1000))
    assert await desk.writes(ALICE, "one more thing") == cid  # reopened
    desk.clock.at(at(1010))
    agent, state = await desk.owner(cid)
    assert agent is not None
    assert state == "offered"
    await desk.accepts(agent, cid)
    desk.clock.at(at(1100))
    await desk.replies(agent, cid)  # a response of 100 s
    desk.clock.at(at(1150))
    await desk.resolves(agent, cid)  # resolution 1150 s, handle 1010 -> 1150: 140 s

    metrics = await desk.metrics(cid)
    assert metrics.created_at == T0
    assert metrics.first_offered_at == at(20)
    assert metrics.first_accepted_at == at(35)
    assert metrics.agent_id == ann
    assert metrics.first_message_at == T0
    assert metrics.first_response_at == at(100)
    assert metrics.handle_seconds == 265 + 140
    assert (metrics.transfers, metrics.reopens, metrics.resolutions) == (1, 1, 2)
    assert metrics.last_resolved_at == at(1150)
    assert metrics.abandoned_at is None
    assert await _responses(sessions) == [(100.0, True), (70.0, False), (100.0, False)]
    assert await _resolutions(sessions) == [(300.0, 265.0, False), (1150.0, 140.0, False)]

    async with sessions() as session:
        observed = (
            await session.execute(
                select(MeasureObservation.measure, MeasureObservation.seconds).order_by(
                    MeasureObservation.id
                )
            )
        ).all()
    assert [(row[0], row[1]) for row in observed] == [
        ("wait_offer", 20.0),
        ("wait_accept", 35.0),
        ("first_response", 100.0),
    ]


async def test_a_chat_closed_before_any_agent_took_it_is_abandoned(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Nobody is online: the customer waits in the queue and a supervisor closes it.
    desk.clock.at(T0)
    cid = await desk.writes(ALICE, "anyone there?")
    desk.clock.at(at(600))
    await desk.resolves(None, cid)

    metrics = await desk.metrics(cid)
    assert metrics.abandoned_at == at(600)
    assert metrics.first_offered_at is None
    assert metrics.first_response_at is None
    assert await _resolutions(sessions) == [(600.0, None, True)]


async def test_a_chat_taken_but_not_answered_before_closing_is_not_abandoned(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk.clock.at(T0)
    ann, _ = await seed.two_sms_agents(sessions, "ann", "ben")
    cid = await desk.writes(ALICE, "quick question")
    desk.clock.at(at(5))
    await desk.accepts(ann, cid)
    desk.clock.at(at(65))
    await desk.resolves(ann, cid)

    metrics = await desk.metrics(cid)
    assert metrics.abandoned_at is None
    assert metrics.handle_seconds == 60
    assert await _resolutions(sessions) == [(65.0, 60.0, False)]


def _call(status: str) -> dict[str, str]:
    return {
        "AccountSid": "ACa1b2c3d4e5f60718293a4b5c6d7e8f90",
        "CallSid": "CA00000000000000000000000000000001",
        "From": "+447911123456",
        "To": "+14155550100",
        "Direction": "inbound",
        "CallStatus": status,
    }


async def test_a_call_that_ends_before_an_agent_answers_is_abandoned(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk.clock.at(T0)
    ann = await seed.add_agent(
        sessions, "ann", capacity={"voice": 1}, queues=[await seed.queue_id(sessions, "default")]
    )
    await desk.engine.process([incoming_call(_call("ringing"))])
    [cid] = await _conversation_ids(sessions)
    assert await desk.owner(cid) == (ann, "offered")  # her phone rings
    desk.clock.at(at(25))
    ended = call_status(_call("no-answer"))
    assert ended is not None
    await desk.engine.process([ended])  # the caller hung up first

    metrics = await desk.metrics(cid)
    assert metrics.abandoned_at == at(25)
    assert metrics.first_accepted_at is None


async def test_an_answered_call_is_not_abandoned(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk.clock.at(T0)
    ann = await seed.add_agent(
        sessions, "ann", capacity={"voice": 1}, queues=[await seed.queue_id(sessions, "default")]
    )
    await desk.engine.process([incoming_call(_call("ringing"))])
    [cid] = await _conversation_ids(sessions)
    desk.clock.at(at(8))
    await desk.accepts(ann, cid)
    desk.clock.at(at(200))
    ended = call_status(_call("completed"))
    assert ended is not None
    await desk.engine.process([ended])

    metrics = await desk.metrics(cid)
    assert metrics.abandoned_at is None
    assert metrics.first_accepted_at == at(8)


async def test_the_sweeps_feed_each_wait_and_first_response_to_the_histograms_once(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk.clock.at(T0)
    ann, _ = await seed.two_sms_agents(sessions, "ann", "ben")
    cid = await desk.writes(ALICE)
    desk.clock.at(at(12))
    await desk.accepts(ann, cid)
    desk.clock.at(at(42))
    await desk.replies(ann, cid)

    def sample(name: str, **labels: str) -> float:
        value = REGISTRY.get_sample_value(name, {"queue": "default", "channel": "sms", **labels})
        return value or 0.0

    before = (
        sample("router_first_response_seconds_count"),
        sample("router_first_response_seconds_sum"),
        sample("router_wait_seconds_sum", until="offer"),
        sample("router_wait_seconds_sum", until="accept"),
        sample("router_wait_seconds_bucket", until="accept", le="15.0"),
    )
    assert await in_transaction(sessions, feed_histograms) == 3
    assert await in_transaction(sessions, feed_histograms) == 0  # each observed once
    after = (
        sample("router_first_response_seconds_count"),
        sample("router_first_response_seconds_sum"),
        sample("router_wait_seconds_sum", until="offer"),
        sample("router_wait_seconds_sum", until="accept"),
        sample("router_wait_seconds_bucket", until="accept", le="15.0"),
    )
    assert [round(b - a, 6) for a, b in zip(before, after, strict=True)] == [1, 42, 0, 12, 1]
