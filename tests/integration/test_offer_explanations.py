"""Every path that offers explains itself in the history, in one shape, on a real PostgreSQL.

Each test makes an offer one way (arrival, overflow, a customer writing again, a reopen, the
drain after a resolve, a decline or an agent coming online, a lapse, a transfer) and reads the
explanation back from `conversation_events`: the path, the rule that placed the conversation,
its queue, every online agent grouped by verdict and who got it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.admin import policy
from router.admin.schemas import PolicyDraft
from router.channels import Presence
from router.console.moves import redirect
from router.conversations import service as conversations
from router.conversations.history import Actor, Change
from router.db import transaction
from router.models import Conversation
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting, expire_offers
from router.routing.policy import RoutingRule
from router.settings import Settings
from tests import factories, seed
from tests.support import conversation_events

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
KEYS = {"path", "rule", "policy_version", "queue", "outcome", "agent_id", "reason", "candidates"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        offer_timeout_seconds=30,
        offer_exclusion_seconds=120,
    )


async def _events(
    sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID, kind: str = "offered"
) -> list[dict[str, Any]]:
    rows = await conversation_events(sessions, cid, kind)
    return [dict(row.details, reason_text=row.reason, event_agent=row.agent_id) for row in rows]


def _assert_explained(
    explanation: dict[str, Any],
    *,
    path: str,
    rule: str | None,
    queue: str,
    to: uuid.UUID,
    candidates: dict[str, list[uuid.UUID]],
) -> None:
    # Compared as mappings: verdicts come in the order of their first agent's id.
    assert explanation.keys() >= KEYS, explanation
    assert explanation["path"] == path
    assert explanation["rule"] == rule
    assert explanation["queue"] == queue
    assert explanation["outcome"] == "offer"
    assert explanation["agent_id"] == str(to)
    assert explanation["candidates"] == {
        verdict: [str(agent) for agent in agents] for verdict, agents in candidates.items()
    }


async def _only_id(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with sessions() as session:
        [cid] = (await session.scalars(select(Conversation.id))).all()
    return cid


async def test_arrival_through_an_overflow_names_the_rule_the_closed_queue_and_the_team(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    default = await seed.queue_id(sessions, "default")
    # Days missing from the schedule are closed: "night" is never open.
    await seed.add_queue(
        sessions,
        "night",
        business_hours={"time_zone": "UTC", "weekly": {}},
        overflow=default,
    )
    ann = await seed.add_agent(sessions, "ann", capacity={"sms": 3}, queues=[default])
    ben = await seed.add_agent(sessions, "ben", capacity={"email": 1}, queues=[default])
    async with transaction(sessions) as session:
        draft = PolicyDraft(
            default_queue="default",
            rules=[RoutingRule(name="texts at night", channels=["sms"], queue="night")],
        )
        await policy.publish(session, draft, "admin:test")
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([factories.sms()])

    [offered] = await _events(sessions, await _only_id(sessions))
    _assert_explained(
        offered,
        path="arrival",
        rule="texts at night",
        queue="default",
        to=ann,
        candidates={"eligible (0/3 on sms)": [ann], "no capacity on sms": [ben]},
    )
    assert (offered["policy_version"], offered["overflow_from"]) == (2, "night")
    assert offered["reason"] == "least loaded"


async def test_a_customer_writing_again_and_a_reopen_explain_their_offers(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms("hi")])
    cid = await _only_id(sessions)
    assert await _events(sessions, cid) == []  # nobody to offer it to yet

    default = await seed.queue_id(sessions, "default")
    cat = await seed.add_agent(sessions, "cat", capacity={"sms": 1}, queues=[default])
    clock.now += timedelta(seconds=5)
    await engine.process([factories.sms("hello? anyone?")])
    [wrote] = await _events(sessions, cid)
    _assert_explained(
        wrote,
        path="customer wrote",
        rule="default",
        queue="default",
        to=cat,
        candidates={"eligible (0/1 on sms)": [cat]},
    )
    assert wrote["policy_version"] == 1

    async with transaction(sessions) as session:
        await conversations.accept_offer(session, settings, cid, cat, clock.now)
    async with transaction(sessions) as session:
        await conversations.resolve(session, settings, cid, cat, clock.now)
    clock.now += timedelta(minutes=10)
    await engine.process([factories.sms("one more thing")])
    [_, reopened] = await _events(sessions, cid)
    _assert_explained(
        reopened,
        path="reopen",
        rule="default",
        queue="default",
        to=cat,
        candidates={"eligible (0/1 on sms)": [cat]},
    )
    assert reopened["reason"] == "sticky previous owner"


async def test_drains_after_a_resolve_a_decline_and_an_agent_coming_online_explain_theirs(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    default = await seed.queue_id(sessions, "default")
    ann = await seed.add_agent(
        sessions,
        "ann",
        capacity={"sms": 1},
        queues=[default],
        idle_since=datetime(2026, 1, 1, tzinfo=UTC),
    )
    ben = await seed.add_agent(
        sessions, "ben", capacity={"sms": 1}, queues=[default], presence="offline"
    )
    await engine.process([factories.sms(sender="+14155550001")])
    await engine.process([factories.sms(sender="+14155550002")])
    async with sessions() as session:
        first, second = (
            await session.scalars(select(Conversation.id).order_by(Conversation.created_at))
        ).all()
    assert len(await _events(sessions, second)) == 0  # ann is full, ben offline

    # A resolve frees ann's slot; the drain offers her the waiting one.
    async with transaction(sessions) as session:
        await conversations.accept_offer(session, settings, first, ann, clock.now)
        await conversations.resolve(session, settings, first, ann, clock.now)
    clock.now += timedelta(seconds=1)
    async with transaction(sessions) as session:
        assert await drain_waiting(session, settings, clock.now) == 1
    [after_resolve] = await _events(sessions, second)
    _assert_explained(
        after_resolve,
        path="drain",
        rule="default",
        queue="default",
        to=ann,
        candidates={"eligible (0/1 on sms)": [ann]},
    )
    assert after_resolve["reason_text"] == "capacity freed: least loaded"
    assert after_resolve["waited_seconds"] == 1.0

    # She declines; ben comes online, and the drain offers it to him.
    async with transaction(sessions) as session:
        await conversations.decline_offer(session, settings, second, ann, clock.now)
    async with transaction(sessions) as session:
        await conversations.set_presence(
            session, settings, ben, Presence.ONLINE, clock.now, actor="test"
        )
    async with transaction(sessions) as session:
        assert await drain_waiting(session, settings, clock.now) == 1
    until = (clock.now + timedelta(seconds=120)).isoformat()
    [_, after_decline] = await _events(sessions, second)
    verdicts = {
        f"excluded: declined until {until}": [ann],
        "eligible (0/1 on sms)": [ben],
    }
    _assert_explained(
        after_decline,
        path="drain",
        rule="default",
        queue="default",
        to=ben,
        candidates=verdicts,
    )


async def test_a_lapsed_offer_moving_on_explains_the_next_offer(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    first, second = await seed.two_sms_agents(sessions, "ann", "ben")
    clock = Clock(NOW)
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms()])
    cid = await _only_id(sessions)
    clock.now += timedelta(seconds=31)
    async with transaction(sessions) as session:
        assert await expire_offers(session, settings, clock.now) == 1
    [_, lapsed] = await _events(sessions, cid)
    until = (clock.now + timedelta(seconds=120)).isoformat()
    verdicts = {
        f"excluded: timed out until {until}": [first],
        "eligible (0/1 on sms)": [second],
    }
    _assert_explained(
        lapsed,
        path="lapse",
        rule="default",
        queue="default",
        to=second,
        candidates=verdicts,
    )


async def test_transfers_explain_the_offer_to_an_agent_and_the_drain_from_a_queue(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url)
    clock = Clock(NOW)
    default = await seed.queue_id(sessions, "default")
    billing = await seed.add_queue(sessions, "billing")
    ann = await seed.add_agent(
        sessions,
        "ann",
        capacity={"sms": 2},
        queues=[default],
        idle_since=datetime(2026, 1, 1, tzinfo=UTC),
    )
    ben = await seed.add_agent(sessions, "ben", capacity={"sms": 2}, queues=[default, billing])
    await RoutingEngine(sessions, settings, clock=clock).process([factories.sms()])
    cid = await _only_id(sessions)
    async with transaction(sessions) as session:
        await conversations.accept_offer(session, settings, cid, ann, clock.now)

    # Ann hands it to ben: the transfer is the offer, and it carries the explanation.
    async with transaction(sessions) as session:
        conversation = await conversations.lock_conversation(session, cid)
        assert conversation is not None
        await redirect(
            session,
            settings,
            conversation,
            clock.now,
            queue_id=None,
            agent_id=ben,
            accepted=False,
            change=Change.TRANSFERRED,
            actor=Actor.AGENT,
            actor_id=str(ann),
            reason="ben knows billing",
        )
    [handed] = await _events(sessions, cid, "transferred")
    verdicts = {"eligible (1/2 on sms)": [ann], "eligible (0/2 on sms)": [ben]}
    _assert_explained(
        handed,
        path="transfer",
        rule="default",
        queue="default",
        to=ben,
        candidates=verdicts,
    )
    assert handed["reason"] == "ben knows billing"
    assert (handed["from_agent"], handed["to_agent"]) == (str(ann), str(ben))
    assert handed["routing_choice"] == str(ben)  # the least loaded

    # Ben moves it to billing: the drain's offer says who moved it there, and no rule.
    async with transaction(sessions) as session:
        conversation = await conversations.lock_conversation(session, cid)
        assert conversation is not None
        await conversations.accept_offer(session, settings, cid, ben, clock.now)
        await redirect(
            session,
            settings,
            conversation,
            clock.now,
            queue_id=billing,
            agent_id=None,
            accepted=False,
            change=Change.TRANSFERRED,
            actor=Actor.AGENT,
            actor_id=str(ben),
            reason="billing question",
        )
    clock.now += timedelta(seconds=121)  # ben's exclusion has ended
    async with transaction(sessions) as session:
        assert await drain_waiting(session, settings, clock.now) == 1
    [*_, drained] = await _events(sessions, cid)
    verdicts = {"does not serve queue billing": [ann], "eligible (0/2 on sms)": [ben]}
    _assert_explained(
        drained,
        path="drain",
        rule=None,
        queue="billing",
        to=ben,
        candidates=verdicts,
    )
    assert drained["moved_by"] == f"transferred by agent:{ben}"
