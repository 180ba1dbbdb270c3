"""The routing engine on a real PostgreSQL: threading, identity, ownership, capacity, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.conversations import service
from router.conversations.history import Actor
from router.db import transaction
from router.models import (
    AgentCapacity,
    Conversation,
    ConversationEvent,
    Customer,
    Message,
    RoutingPolicy,
)
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting, expire_offers
from router.settings import Settings
from tests import factories, seed

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _settings(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _conversations(sessions: async_sessionmaker[AsyncSession]) -> list[Conversation]:
    async with sessions() as session:
        return list((await session.scalars(select(Conversation))).all())


async def test_a_message_with_no_agents_is_owned_by_the_default_queue(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = RoutingEngine(sessions, _settings(database_url), clock=Clock(NOW))
    await engine.process([factories.sms()])
    [conversation] = await _conversations(sessions)
    assert conversation.queue_id == await seed.queue_id(sessions, "default")
    assert conversation.agent_id is None
    assert conversation.status == "open"
    assert await seed.history(sessions, conversation.id) == ["created", "queued", "queued"]


async def test_offer_goes_to_least_loaded_then_sticks_and_replays_change_nothing(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    busy = await seed.add_agent(sessions, "busy", capacity={"sms": 2}, queues=[default])
    idle = await seed.add_agent(sessions, "idle", capacity={"sms": 2}, queues=[default])
    async with transaction(sessions) as session:
        await session.execute(
            AgentCapacity.__table__.update().where(AgentCapacity.agent_id == busy).values(active=1)
        )
    clock = Clock(NOW)
    settings = _settings(database_url)
    engine = RoutingEngine(sessions, settings, clock=clock)
    first = factories.sms("where is my parcel")
    await engine.process([first])
    [conversation] = await _conversations(sessions)
    assert conversation.agent_id == idle
    assert conversation.offer_state == "offered"

    # The same provider event again, alone and inside a batch: nothing changes.
    follow_up = factories.sms("hello?")
    await engine.process([first])
    await engine.process([first, follow_up, follow_up])
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 2
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        active = await session.scalar(
            select(AgentCapacity.active).where(AgentCapacity.agent_id == idle)
        )
    assert active == 1

    # Accepted, resolved, then the customer writes again: reopened to the same owner.
    async with transaction(sessions) as session:
        await service.accept_offer(session, settings, conversation.id, idle, clock())
    async with transaction(sessions) as session:
        await service.resolve(session, settings, conversation.id, idle, clock(), actor=Actor.AGENT)
    clock.now += timedelta(hours=1)
    await engine.process([factories.sms("one more thing")])
    [reopened] = await _conversations(sessions)
    assert reopened.id == conversation.id
    assert reopened.status == "open"
    assert reopened.agent_id == idle
    history = await seed.history(sessions, conversation.id)
    assert history[-4:] == ["resolved", "reopened", "queued", "offered"]


async def test_a_new_thread_joins_an_open_conversation_only_for_the_same_identity(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(database_url, join_open_conversation={"email": "same-channel"})
    engine = RoutingEngine(sessions, settings, clock=Clock(NOW))
    await engine.process([factories.email(sender="ada@example.com", thread="a")])
    await engine.process([factories.email(sender="ada@example.com", thread="b")])
    # Same display name, other address: another customer, never merged on a guess.
    await engine.process([factories.email(sender="ada@elsewhere.example", thread="c")])
    conversations = await _conversations(sessions)
    assert len(conversations) == 2
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Customer)) == 2


async def test_offers_time_out_to_the_next_agent_and_the_queue_drains_by_priority_then_age(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    first = await seed.add_agent(
        sessions,
        "first",
        capacity={"sms": 1},
        queues=[default],
        idle_since=NOW - timedelta(hours=2),
    )
    settings = _settings(database_url, offer_timeout_seconds=30)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms(sender="+14155550001")])
    for number in ("+14155550002", "+14155550003"):
        clock.now += timedelta(seconds=1)
        await engine.process([factories.sms(sender=number)])
    conversations = sorted(await _conversations(sessions), key=lambda c: c.waiting_since)
    assert [c.agent_id for c in conversations] == [first, None, None]

    second = await seed.add_agent(sessions, "second", capacity={"sms": 1}, queues=[default])
    clock.now += timedelta(seconds=31)
    async with transaction(sessions) as session:
        assert await expire_offers(session, settings, clock()) == 1
    [lapsed] = [c for c in await _conversations(sessions) if c.id == conversations[0].id]
    assert lapsed.agent_id == second  # the first agent is excluded from this round
    until = clock() + timedelta(seconds=settings.offer_exclusion_seconds)
    assert lapsed.excluded_agents == {
        str(first): {"reason": "timed out", "until": until.isoformat()}
    }

    async with transaction(sessions) as session:
        assert await drain_waiting(session, settings, clock()) == 1
    after = {c.id: c for c in await _conversations(sessions)}
    assert after[conversations[1].id].agent_id == first  # the older one goes first
    assert after[conversations[2].id].agent_id is None
    async with sessions() as session:
        loads = dict(
            (await session.execute(select(AgentCapacity.agent_id, AgentCapacity.active))).all()
        )
    assert loads == {first: 1, second: 1}


async def test_going_offline_hands_offers_back_and_waiting_drains_priority_first(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    async with transaction(sessions) as session:
        session.add(
            RoutingPolicy(
                version=2,
                active=True,
                created_by="test",
                document={
                    "version": 2,
                    "default_queue": "default",
                    "rules": [
                        {
                            "name": "urgent",
                            "keywords": ["urgent"],
                            "queue": "default",
                            "priority": 10,
                        }
                    ],
                },
            )
        )
    leaving = await seed.add_agent(sessions, "leaving", capacity={"sms": 1}, queues=[default])
    settings = _settings(database_url)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms("first, plain", sender="+14155550101")])
    clock.now += timedelta(seconds=1)
    await engine.process([factories.sms("second, plain", sender="+14155550102")])
    clock.now += timedelta(seconds=1)
    await engine.process([factories.sms("third, this is urgent", sender="+14155550103")])
    by_sender = {}
    async with sessions() as session:
        for conversation_id, sender in (
            await session.execute(select(Message.conversation_id, Message.sender))
        ).all():
            by_sender[sender] = conversation_id
    first, second, urgent = (by_sender[f"+1415555010{i}"] for i in (1, 2, 3))
    owners = {c.id: c for c in await _conversations(sessions)}
    assert owners[first].agent_id == leaving
    assert owners[urgent].priority == 10

    async with transaction(sessions) as session:
        revoked = await service.set_presence(
            session, settings, leaving, Presence.OFFLINE, clock(), actor="system"
        )
    assert revoked == [first]
    owners = {c.id: c for c in await _conversations(sessions)}
    assert owners[first].agent_id is None
    assert owners[first].queue_id == default

    # Capacity frees one slot at a time: urgent first, then the older of the plain ones.
    order = []
    for handle in ("one", "two", "three"):
        agent = await seed.add_agent(sessions, handle, capacity={"sms": 1}, queues=[default])
        async with transaction(sessions) as session:
            assert await drain_waiting(session, settings, clock()) == 1
        owners = {c.id: c for c in await _conversations(sessions)}
        order.extend(cid for cid, c in owners.items() if c.agent_id == agent)
    assert order == [urgent, first, second]
    async with sessions() as session:
        history = (
            await session.scalars(
                select(ConversationEvent.kind).where(ConversationEvent.conversation_id == first)
            )
        ).all()
    assert "offer_revoked" in history


async def test_of_two_equally_loaded_agents_the_one_who_finished_work_last_is_not_chosen(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    since = NOW - timedelta(hours=1)
    ada = await seed.add_agent(
        sessions, "ada", capacity={"sms": 1}, queues=[default], idle_since=since
    )
    bob = await seed.add_agent(
        sessions, "bob", capacity={"sms": 1}, queues=[default], idle_since=since
    )
    settings = _settings(database_url)
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    await engine.process([factories.sms(sender="+14155550001")])
    await engine.process([factories.sms(sender="+14155550002")])
    owned = {c.agent_id: c.id for c in await _conversations(sessions)}
    assert set(owned) == {ada, bob}
    # An exact tie goes to the lower id: that agent finishes last, so only the slots'
    # `last_work_at` can send the next offer to the other one.
    finishes_first, finishes_last = max(ada, bob), min(ada, bob)
    for agent, minutes in ((finishes_first, 1), (finishes_last, 2)):
        clock.now = NOW + timedelta(minutes=minutes)
        async with transaction(sessions) as session:
            await service.accept_offer(session, settings, owned[agent], agent, clock())
            await service.resolve(session, settings, owned[agent], agent, clock())
    clock.now = NOW + timedelta(minutes=3)
    await engine.process([factories.sms(sender="+14155550003")])
    [latest] = [c for c in await _conversations(sessions) if c.status == "open"]
    assert latest.agent_id == finishes_first


async def test_resolving_frees_the_slot_and_marks_its_last_work_without_writing_the_agent(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    agent = await seed.add_agent(
        sessions, "ada", capacity={"sms": 1}, queues=[default], idle_since=NOW - timedelta(hours=1)
    )
    settings = _settings(database_url)
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([factories.sms()])
    [conversation] = await _conversations(sessions)

    async def agent_row() -> tuple[str, datetime]:
        async with sessions() as session:
            row = (
                await session.execute(
                    text("SELECT xmin::text, idle_since FROM agents WHERE id = :id"),
                    {"id": agent},
                )
            ).one()
        return row[0], row[1]

    async def slot() -> tuple[int, datetime | None]:
        async with sessions() as session:
            row = (
                await session.execute(
                    select(AgentCapacity.active, AgentCapacity.last_work_at).where(
                        AgentCapacity.agent_id == agent
                    )
                )
            ).one()
        return row[0], row[1]

    assert await slot() == (1, NOW)  # the offer's claim
    async with transaction(sessions) as session:
        await service.accept_offer(session, settings, conversation.id, agent, NOW)
    before = await agent_row()
    finished = NOW + timedelta(minutes=5)
    async with transaction(sessions) as session:
        await service.resolve(session, settings, conversation.id, agent, finished)
    assert await agent_row() == before
    assert await slot() == (0, finished)
