"""A router killed (SIGKILL) in the middle of its work loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.producer import KafkaPublisher
from adapters.kafka.topics import ensure_topics
from router.models import Conversation, Message
from router.settings import Settings
from tests import seed
from tests.integration.routers import RouterProcess
from tests.integration.test_routing_processes import (
    assert_capacity_never_exceeded,
    assert_state_consistent,
    conversation_messages,
)


async def _stored(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def _owners(sessions: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, uuid.UUID | None]:
    async with sessions() as session:
        rows = await session.execute(select(Conversation.id, Conversation.agent_id))
        return dict(rows.all())


async def _wait_for(
    sessions: async_sessionmaker[AsyncSession], at_least: int, seconds: float
) -> int:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        stored = await _stored(sessions)
        if stored >= at_least:
            return stored
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {await _stored(sessions)} of {at_least} messages stored")


async def test_sigkill_mid_batch_then_restart(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rng = random.Random(7)
    # Offers never lapse and queues are swept only at start, so any owner change after the
    # restart could only come from replaying what the killed router had already applied.
    settings = settings.model_copy(
        update={
            "sweep_interval_seconds": 3600.0,
            "offer_timeout_seconds": 3600.0,
            "consumer_max_batch": 100,
        }
    )
    default = await seed.queue_id(sessions, "default")
    for number in range(10):
        capacity = {"email": 40, "chat": 40, "whatsapp": 40, "sms": 40}
        await seed.add_agent(sessions, f"agent{number}", capacity=capacity, queues=[default])
    messages = conversation_messages(1000, rng)
    await ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    await publisher.start()
    try:
        for start in range(0, len(messages), 250):
            await publisher.publish(messages[start : start + 250])
    finally:
        await publisher.close()

    first = RouterProcess(settings, tmp_path / "first.log")
    try:
        before = await _wait_for(sessions, 150, 120)
    finally:
        first.kill()
    assert before < len(messages), "the router finished before it could be killed"
    owners_before = await _owners(sessions)

    second = RouterProcess(settings, tmp_path / "second.log")
    try:
        await _wait_for(sessions, len(messages), 180)
        await asyncio.sleep(1)  # anything replayed twice would show up now
    finally:
        code = await asyncio.to_thread(second.terminate)
    assert code == 0, second.output()

    await assert_state_consistent(sessions, len(messages))
    await assert_capacity_never_exceeded(sessions)
    owners_after = await _owners(sessions)
    assert len(owners_after) == 1000
    changed = {
        conversation: (owner, owners_after[conversation])
        for conversation, owner in owners_before.items()
        if owner is not None and owners_after[conversation] != owner
    }
    assert changed == {}
