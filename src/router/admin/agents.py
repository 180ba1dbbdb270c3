"""Agents as administrators manage them: identity, skills, languages, capacity, queues."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.admin.schemas import AgentCreate, AgentDetail, AgentUpdate
from router.audit.service import Subject, record
from router.channels import Channel, Presence
from router.console.queries import agent_loads
from router.errors import Conflict, InvalidPayload, NotFound
from router.models import Agent, AgentCapacity, Queue, QueueAgent
from router.voice.schemas import AgentVoice, EndpointKind


async def _queue_ids(
    session: AsyncSession, agent_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    served: dict[uuid.UUID, list[uuid.UUID]] = {agent_id: [] for agent_id in agent_ids}
    rows = await session.execute(
        select(QueueAgent.agent_id, QueueAgent.queue_id)
        .where(QueueAgent.agent_id.in_(agent_ids))
        .order_by(QueueAgent.agent_id, QueueAgent.queue_id)
    )
    for agent_id, queue_id in rows.all():
        served[agent_id].append(queue_id)
    return served


async def describe(session: AsyncSession, agents: list[Agent]) -> list[AgentDetail]:
    """Agents with their load per channel and the queues they serve."""
    ids = [agent.id for agent in agents]
    loads = await agent_loads(session, ids)
    served = await _queue_ids(session, ids)
    return [
        AgentDetail(
            id=agent.id,
            handle=agent.handle,
            display_name=agent.display_name,
            presence=Presence(agent.presence),
            skills={str(k): int(v) for k, v in agent.skills.items()},
            languages=list(agent.languages),
            load=loads[agent.id],
            queue_ids=served[agent.id],
            voice=_voice(agent),
            on_call_since=agent.on_call_since,
            created_at=agent.created_at,
        )
        for agent in agents
    ]


def _summary(detail: AgentDetail) -> dict[str, Any]:
    """What the audit trail keeps of an agent: what an administrator can change."""
    return {
        "handle": detail.handle,
        "display_name": detail.display_name,
        "skills": detail.skills,
        "languages": detail.languages,
        "capacity": {load.channel.value: load.capacity for load in detail.load},
        "queue_ids": [str(queue_id) for queue_id in detail.queue_ids],
        "voice": detail.voice.model_dump(mode="json"),
    }


def _voice(agent: Agent) -> AgentVoice:
    return AgentVoice(
        endpoint_kind=EndpointKind(agent.voice_endpoint_kind or EndpointKind.CLIENT.value),
        endpoint=agent.voice_endpoint,
        ring_seconds=agent.ring_seconds,
    )


def _set_voice(agent: Agent, voice: AgentVoice) -> None:
    agent.voice_endpoint_kind = voice.endpoint_kind.value
    agent.voice_endpoint = voice.endpoint
    agent.ring_seconds = voice.ring_seconds


async def list_agents(session: AsyncSession) -> list[AgentDetail]:
    """Every agent, by handle."""
    agents = (await session.scalars(select(Agent).order_by(Agent.handle))).all()
    return await describe(session, list(agents))


async def get_agent(session: AsyncSession, agent_id: uuid.UUID, *, lock: bool = False) -> Agent:
    """One agent, or 404."""
    query = select(Agent).where(Agent.id == agent_id)
    if lock:
        query = query.with_for_update()
    agent = await session.scalar(query)
    if agent is None:
        raise NotFound(f"agent {agent_id} does not exist")
    return agent


async def _check_queues(session: AsyncSession, queue_ids: list[uuid.UUID]) -> None:
    wanted = set(queue_ids)
    found = set((await session.scalars(select(Queue.id).where(Queue.id.in_(wanted)))).all())
    missing = sorted(str(queue_id) for queue_id in wanted - found)
    if missing:
        raise InvalidPayload(f"queue_ids: no queue {', '.join(missing)}", field="queue_ids")


async def _set_queues(
    session: AsyncSession, agent_id: uuid.UUID, queue_ids: list[uuid.UUID]
) -> None:
    await _check_queues(session, queue_ids)
    await session.execute(delete(QueueAgent).where(QueueAgent.agent_id == agent_id))
    if queue_ids:
        await session.execute(
            insert(QueueAgent),
            [{"queue_id": queue_id, "agent_id": agent_id} for queue_id in dict.fromkeys(queue_ids)],
        )


async def _set_capacity(
    session: AsyncSession, agent_id: uuid.UUID, capacity: dict[Channel, int]
) -> None:
    """Replace the per-channel capacity, never below what the agent holds right now.

    The rows are locked first, so routing cannot hand out a slot while the limit moves.
    """
    rows = (
        await session.scalars(
            select(AgentCapacity)
            .where(AgentCapacity.agent_id == agent_id)
            .order_by(AgentCapacity.channel)
            .with_for_update()
        )
    ).all()
    current = {Channel(row.channel): row for row in rows}
    too_low = [
        f"{channel.value} (holds {row.active})"
        for channel, row in current.items()
        if row.active > capacity.get(channel, 0)
    ]
    if too_low:
        raise Conflict(
            "capacity cannot go below the conversations the agent holds: " + ", ".join(too_low)
        )
    for channel, row in current.items():
        if channel in capacity:
            row.capacity = capacity[channel]
        else:
            await session.delete(row)
    for channel, slots in capacity.items():
        if channel not in current:
            session.add(
                AgentCapacity(agent_id=agent_id, channel=channel.value, capacity=slots, active=0)
            )
    await session.flush()


async def create_agent(session: AsyncSession, request: AgentCreate, *, actor: str) -> AgentDetail:
    """Add an agent (offline until they set their presence); audited as done by `actor`."""
    if await session.scalar(select(Agent.id).where(Agent.handle == request.handle)):
        raise Conflict(f"the handle {request.handle!r} is taken")
    agent = Agent(
        id=uuid.uuid4(),
        handle=request.handle,
        display_name=request.display_name,
        presence=Presence.OFFLINE.value,
        skills=dict(request.skills),
        languages=list(request.languages),
        teams=[],
    )
    _set_voice(agent, request.voice)
    session.add(agent)
    await session.flush()
    await _set_capacity(session, agent.id, request.capacity)
    await _set_queues(session, agent.id, request.queue_ids)
    await session.refresh(agent)
    [detail] = await describe(session, [agent])
    await record(
        session,
        actor=actor,
        action="agent.created",
        subject=Subject.AGENT,
        subject_id=str(agent.id),
        before=None,
        after=_summary(detail),
    )
    return detail


async def update_agent(
    session: AsyncSession, agent_id: uuid.UUID, request: AgentUpdate, *, actor: str
) -> AgentDetail:
    """Change the fields present in the request; audited (capacities too) as done by `actor`."""
    agent = await get_agent(session, agent_id, lock=True)
    [before] = await describe(session, [agent])
    if request.display_name is not None:
        agent.display_name = request.display_name
    if request.skills is not None:
        agent.skills = dict(request.skills)
    if request.languages is not None:
        agent.languages = list(request.languages)
    if request.capacity is not None:
        await _set_capacity(session, agent.id, request.capacity)
    if request.queue_ids is not None:
        await _set_queues(session, agent.id, request.queue_ids)
    if request.voice is not None:
        _set_voice(agent, request.voice)
    await session.flush()
    await session.refresh(agent)
    [detail] = await describe(session, [agent])
    await record(
        session,
        actor=actor,
        action="agent.updated",
        subject=Subject.AGENT,
        subject_id=str(agent.id),
        before=_summary(before),
        after=_summary(detail),
    )
    return detail


async def delete_agent(session: AsyncSession, agent_id: uuid.UUID, *, actor: str) -> None:
    """Remove an agent who has no history; one with conversations or messages stays (409)."""
    agent = await get_agent(session, agent_id, lock=True)
    [before] = await describe(session, [agent])
    await record(
        session,
        actor=actor,
        action="agent.deleted",
        subject=Subject.AGENT,
        subject_id=str(agent.id),
        before=_summary(before),
        after=None,
    )
    await session.delete(agent)
    # A conversation or message that names the agent refuses the delete here (caller: 409).
    await session.flush()
