"""Two router processes in one group on real Kafka and PostgreSQL, with agents at work.

Checks the invariants on the whole event history, not only at the end: every open
conversation has exactly one owner, no agent ever holds more than their capacity on a
channel, and every message is stored exactly once.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.producer import KafkaPublisher
from adapters.kafka.topics import ensure_topics
from router.channels import Channel, IdentityKind, Presence
from router.conversations import service
from router.db import in_transaction
from router.errors import Conflict
from router.inbound.envelope import CustomerIdentity, InboundMessage, utcnow
from router.models import AgentCapacity, Conversation, Message
from router.settings import Settings
from tests import seed
from tests.integration.routers import RouterProcess

CHANNELS = [
    (Channel.EMAIL, IdentityKind.EMAIL),
    (Channel.CHAT, IdentityKind.WEBCHAT),
    (Channel.WHATSAPP, IdentityKind.WHATSAPP),
    (Channel.SMS, IdentityKind.PHONE),
]


def conversation_messages(count: int, rng: random.Random) -> list[InboundMessage]:
    """`count` customers, each opening one conversation; some write twice."""
    messages: list[InboundMessage] = []
    for number in range(count):
        channel, kind = CHANNELS[number % len(CHANNELS)]
        address = (
            f"customer{number}@example.com" if kind is IdentityKind.EMAIL else f"+1415{number:07d}"
        )
        for turn in range(2 if rng.random() < 0.2 else 1):
            messages.append(
                InboundMessage(
                    channel=channel,
                    provider="load",
                    provider_message_id=f"{number}-{turn}",
                    conversation_key=f"{channel}:{address}",
                    customer=CustomerIdentity(kind=kind, value=address),
                    recipient="support",
                    text=f"message {turn} of customer {number}",
                )
            )
    return messages


async def seed_agents(
    sessions: async_sessionmaker[AsyncSession], rng: random.Random
) -> list[uuid.UUID]:
    default = await seed.queue_id(sessions, "default")
    agents = []
    for number in range(20):
        capacity = {
            "email": rng.choice([0, 4, 8]),
            "chat": rng.choice([1, 2, 3]),
            "whatsapp": rng.choice([0, 2, 3]),
            "sms": rng.choice([1, 2]),
        }
        agents.append(
            await seed.add_agent(sessions, f"agent{number}", capacity=capacity, queues=[default])
        )
    return agents


async def work_as_agents(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    agents: list[uuid.UUID],
    stop: asyncio.Event,
    rng: random.Random,
    done: Counter[str],
) -> Counter[str]:
    """Accept, decline, resolve and go offline/online at random, as a team would."""
    while not stop.is_set():
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Conversation.id, Conversation.agent_id, Conversation.offer_state)
                    .where(Conversation.status == "open", Conversation.agent_id.is_not(None))
                    .limit(200)
                )
            ).all()
        for conversation_id, agent_id, state in rows:
            roll = rng.random()
            try:
                if state == "offered" and roll < 0.7:
                    await in_transaction(
                        sessions,
                        lambda s, c=conversation_id, a=agent_id: service.accept_offer(
                            s, settings, c, a, utcnow()
                        ),
                    )
                    done["accepted"] += 1
                elif state == "offered" and roll < 0.8:
                    await in_transaction(
                        sessions,
                        lambda s, c=conversation_id, a=agent_id: service.decline_offer(
                            s, settings, c, a, utcnow()
                        ),
                    )
                    done["declined"] += 1
                elif state == "accepted" and roll < 0.6:
                    await in_transaction(
                        sessions,
                        lambda s, c=conversation_id, a=agent_id: service.resolve(
                            s, settings, c, a, utcnow()
                        ),
                    )
                    done["resolved"] += 1
            except Conflict:
                done["raced"] += 1  # the offer moved on meanwhile: exactly what must be refused
        if rng.random() < 0.3:
            agent = rng.choice(agents)
            presence = rng.choice(
                [Presence.OFFLINE, Presence.AWAY, Presence.ONLINE, Presence.ONLINE]
            )
            await in_transaction(
                sessions,
                lambda s, a=agent, p=presence: service.set_presence(
                    s, settings, a, p, utcnow(), actor="system"
                ),
            )
            done["presence"] += 1
        await asyncio.sleep(0.05)
    return done


async def assert_capacity_never_exceeded(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Replay the history: the running load of every agent on every channel stays in capacity."""
    async with sessions() as session:
        capacity = {
            (agent, channel): slots
            for agent, channel, slots in (
                await session.execute(
                    select(AgentCapacity.agent_id, AgentCapacity.channel, AgentCapacity.capacity)
                )
            ).all()
        }
        history = (
            await session.execute(
                text(
                    "SELECT e.kind, e.agent_id, c.channel FROM conversation_events e"
                    " JOIN conversations c ON c.id = e.conversation_id ORDER BY e.id"
                )
            )
        ).all()
    load: Counter[tuple[uuid.UUID, str]] = Counter()
    releases = {"declined", "offer_timed_out", "offer_revoked", "resolved"}
    for kind, agent, channel in history:
        if agent is None:
            continue
        if kind == "offered":
            load[(agent, channel)] += 1
            assert load[(agent, channel)] <= capacity[(agent, channel)], (agent, channel)
        elif kind in releases:
            load[(agent, channel)] -= 1
            assert load[(agent, channel)] >= 0
    return len(history)


async def assert_state_consistent(
    sessions: async_sessionmaker[AsyncSession], expected: int
) -> None:
    async with sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(Message))
        distinct = await session.scalar(
            select(func.count(func.distinct(Message.provider_message_id)))
        )
        ownerless = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.status == "open", Conversation.queue_id.is_(None))
        )
        held = Counter(
            {
                (agent, channel): count
                for agent, channel, count in (
                    await session.execute(
                        select(Conversation.agent_id, Conversation.channel, func.count())
                        .where(Conversation.status == "open", Conversation.agent_id.is_not(None))
                        .group_by(Conversation.agent_id, Conversation.channel)
                    )
                ).all()
            }
        )
        counted = Counter(
            {
                (agent, channel): active
                for agent, channel, active in (
                    await session.execute(
                        select(AgentCapacity.agent_id, AgentCapacity.channel, AgentCapacity.active)
                    )
                ).all()
                if active
            }
        )
    assert stored == expected == distinct
    assert ownerless == 0
    assert held == counted


async def test_two_routers_two_thousand_conversations_twenty_agents(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rng = random.Random(20261122)
    settings = settings.model_copy(
        update={
            "sweep_interval_seconds": 0.2,
            "offer_timeout_seconds": 2.0,
            "consumer_max_batch": 200,
        }
    )
    agents = await seed_agents(sessions, rng)
    messages = conversation_messages(2000, rng)
    await ensure_topics(settings)
    routers = [RouterProcess(settings, tmp_path / f"router{i}.log") for i in range(2)]
    stop = asyncio.Event()
    work: Counter[str] = Counter()
    team = asyncio.create_task(work_as_agents(sessions, settings, agents, stop, rng, work))
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        for start in range(0, len(messages), 100):
            chunk = messages[start : start + 100]
            # Every tenth chunk is delivered twice, as a retrying provider would.
            await publisher.publish(chunk + (chunk[:10] if start % 1000 == 0 else []))
        deadline = asyncio.get_running_loop().time() + 240
        while asyncio.get_running_loop().time() < deadline:
            async with sessions() as session:
                if await session.scalar(select(func.count()).select_from(Message)) == len(messages):
                    break
            await asyncio.sleep(0.5)
        # The team keeps working on the backlog until it has really done some of each.
        for _ in range(300):
            if work["accepted"] >= 20 and work["resolved"] >= 10:
                break
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        # The team finishes its transaction first: a router must not wait on locks held by a
        # test whose event loop is blocked.
        activity = await team
        await publisher.close()
        codes = [await asyncio.to_thread(router.terminate) for router in routers]
    if codes != [0, 0]:
        for router in routers:
            print(router.log.read_text(errors="replace"))
    assert codes == [0, 0]
    # The team really worked alongside the routers (how much depends on the machine's load).
    assert activity["accepted"] >= 20, activity
    assert activity["resolved"] >= 10, activity

    await assert_state_consistent(sessions, len(messages))
    assert await assert_capacity_never_exceeded(sessions) > 4000
    async with sessions() as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
    assert conversations == 2000
