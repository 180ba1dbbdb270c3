"""Contact points for tests (agents with capacities, queues and who serves them), and reads
of their load and of conversations' history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Agent, AgentCapacity, ConversationEvent, Queue, QueueAgent


async def queue_id(sessions: async_sessionmaker[AsyncSession], name: str) -> uuid.UUID:
    async with sessions() as session:
        found = await session.scalar(select(Queue.id).where(Queue.name == name))
    assert found is not None, name
    return found


async def add_queue(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    *,
    required_skills: Mapping[str, int] | None = None,
    business_hours: dict[str, Any] | None = None,
    overflow: uuid.UUID | None = None,
) -> uuid.UUID:
    async with sessions() as session, session.begin():
        queue = Queue(
            id=uuid.uuid4(),
            name=name,
            required_skills=dict(required_skills or {}),
            business_hours=business_hours,
            overflow_queue_id=overflow,
        )
        session.add(queue)
    return queue.id


async def add_agent(
    sessions: async_sessionmaker[AsyncSession],
    handle: str,
    *,
    capacity: Mapping[str, int],
    queues: Sequence[uuid.UUID],
    presence: str = "online",
    skills: Mapping[str, int] | None = None,
    languages: Sequence[str] = ("en",),
    idle_since: datetime | None = None,
) -> uuid.UUID:
    agent_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        values: dict[str, Any] = {
            "id": agent_id,
            "handle": handle,
            "display_name": handle.title(),
            "presence": presence,
            "skills": dict(skills or {}),
            "languages": list(languages),
        }
        if idle_since is not None:
            values["idle_since"] = idle_since
        session.add(Agent(**values))
        await session.flush()
        for channel, slots in capacity.items():
            session.add(AgentCapacity(agent_id=agent_id, channel=channel, capacity=slots, active=0))
        for queue in queues:
            session.add(QueueAgent(queue_id=queue, agent_id=agent_id))
    return agent_id


async def two_sms_agents(
    sessions: async_sessionmaker[AsyncSession], first: str, second: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """Two online agents of the default queue with one SMS slot each; routing picks `first`
    (idle longest) while both have room."""
    default = await queue_id(sessions, "default")
    picked = await add_agent(
        sessions,
        first,
        capacity={"sms": 1},
        queues=[default],
        idle_since=datetime(2026, 1, 1, tzinfo=UTC),
    )
    other = await add_agent(sessions, second, capacity={"sms": 1}, queues=[default])
    return picked, other


async def active(sessions: async_sessionmaker[AsyncSession], agent: uuid.UUID) -> int:
    """Conversations the agent holds on their (only) channel."""
    async with sessions() as session:
        value = await session.scalar(
            select(AgentCapacity.active).where(AgentCapacity.agent_id == agent)
        )
    assert value is not None
    return value


async def history(sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID) -> list[str]:
    """The kinds of a conversation's changes, oldest first."""
    async with sessions() as session:
        kinds = await session.scalars(
            select(ConversationEvent.kind)
            .where(ConversationEvent.conversation_id == cid)
            .order_by(ConversationEvent.id)
        )
        return list(kinds.all())
