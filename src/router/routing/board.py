"""The routing board: contact points as routing sees them, loaded and locked for one transaction.

Loading locks the online agents (so presence cannot change under a decision) and their
capacity rows, always agents first, then capacities, each in id order, so the in-memory
counts stay the truth until the transaction commits: two router processes can never both
give away an agent's last slot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel, Presence
from router.models import Agent, AgentCapacity, Queue, QueueAgent, RoutingPolicy
from router.routing.decision import AgentSnapshot, QueueSnapshot
from router.routing.hours import BusinessHours
from router.routing.policy import RoutingPolicy as Policy

DEFAULT_QUEUE = "default"
BUILT_IN_POLICY = Policy(version=1, rules=(), default_queue=DEFAULT_QUEUE)


@dataclass
class Board:
    policy: Policy
    queues: dict[str, QueueSnapshot]
    queue_ids: dict[str, uuid.UUID]
    agents: dict[str, AgentSnapshot]
    now: datetime
    _taken: dict[tuple[str, Channel], int] = field(default_factory=dict)
    _busy: set[str] = field(default_factory=set)

    def queue_name(self, queue_id: uuid.UUID) -> str:
        for name, known in self.queue_ids.items():
            if known == queue_id:
                return name
        raise KeyError(queue_id)

    def take(self, agent_id: str, channel: Channel) -> None:
        """Count one more active conversation on the agent's channel."""
        self._adjust(agent_id, channel, +1)
        self._busy.add(agent_id)

    def release(self, agent_id: str, channel: Channel) -> None:
        """Count one active conversation less (an offer lapsed or was declined)."""
        self._adjust(agent_id, channel, -1)

    def _adjust(self, agent_id: str, channel: Channel, step: int) -> None:
        agent = self.agents[agent_id]
        active = {**agent.active, channel: max(0, agent.active.get(channel, 0) + step)}
        idle = self.now if step > 0 else agent.idle_since
        self.agents[agent_id] = replace(agent, active=active, idle_since=idle)
        self._taken[(agent_id, channel)] = active[channel]

    async def save(self, session: AsyncSession) -> None:
        """Write the changed active counts and idle times back, under the locks still held."""
        if self._taken:
            table = cast(Table, AgentCapacity.__table__)
            await session.execute(
                update(table)
                .where(
                    table.c.agent_id == bindparam("b_agent"),
                    table.c.channel == bindparam("b_channel"),
                )
                .values(active=bindparam("b_active")),
                [
                    {"b_agent": uuid.UUID(agent), "b_channel": channel.value, "b_active": active}
                    for (agent, channel), active in sorted(self._taken.items())
                ],
                execution_options={"synchronize_session": False},
            )
            self._taken.clear()
        if self._busy:
            await session.execute(
                update(Agent)
                .where(Agent.id.in_([uuid.UUID(agent) for agent in sorted(self._busy)]))
                .values(idle_since=self.now)
                .execution_options(synchronize_session=False)
            )
            self._busy.clear()


async def active_policy(session: AsyncSession) -> Policy:
    """The active routing policy, or the built-in one that sends everything to `default`."""
    document = await session.scalar(
        select(RoutingPolicy.document).where(RoutingPolicy.active.is_(True))
    )
    return BUILT_IN_POLICY if document is None else Policy.model_validate(document)


async def load_board(session: AsyncSession, now: datetime, *, lock: bool = True) -> Board:
    """Read queues, the policy and the online agents with their capacities (locked)."""
    queue_rows = (await session.execute(select(Queue))).scalars().all()
    members: dict[uuid.UUID, set[str]] = {}
    for queue_id, agent_id in (
        await session.execute(select(QueueAgent.queue_id, QueueAgent.agent_id))
    ).all():
        members.setdefault(queue_id, set()).add(str(agent_id))
    names = {row.id: row.name for row in queue_rows}
    queues = {
        row.name: QueueSnapshot(
            name=row.name,
            required_skills=_levels(row.required_skills),
            language=row.language,
            agent_ids=frozenset(members.get(row.id, ())),
            hours=BusinessHours.model_validate(row.business_hours) if row.business_hours else None,
            overflow_queue=names.get(row.overflow_queue_id) if row.overflow_queue_id else None,
        )
        for row in queue_rows
    }

    agents_query = (
        select(Agent.id, Agent.skills, Agent.languages, Agent.idle_since)
        .where(Agent.presence == Presence.ONLINE.value)
        .order_by(Agent.id)
    )
    if lock:
        # Not a share lock: the board writes `idle_since` back, and upgrading a share lock
        # held by two transactions at once is a deadlock.
        agents_query = agents_query.with_for_update(key_share=True)
    agent_rows = (await session.execute(agents_query)).all()
    capacity_query = (
        select(AgentCapacity)
        .where(AgentCapacity.agent_id.in_([row.id for row in agent_rows]))
        .order_by(AgentCapacity.agent_id, AgentCapacity.channel)
    )
    if lock:
        capacity_query = capacity_query.with_for_update()
    capacity: dict[str, dict[Channel, int]] = {}
    active: dict[str, dict[Channel, int]] = {}
    for row in (await session.execute(capacity_query)).scalars():
        capacity.setdefault(str(row.agent_id), {})[Channel(row.channel)] = row.capacity
        active.setdefault(str(row.agent_id), {})[Channel(row.channel)] = row.active
    agents = {
        str(row.id): AgentSnapshot(
            agent_id=str(row.id),
            presence=Presence.ONLINE,
            idle_since=row.idle_since,
            skills=_levels(row.skills),
            languages=frozenset(row.languages),
            capacity=capacity.get(str(row.id), {}),
            active=active.get(str(row.id), {}),
        )
        for row in agent_rows
    }
    return Board(
        policy=await active_policy(session),
        queues=queues,
        queue_ids={row.name: row.id for row in queue_rows},
        agents=agents,
        now=now,
    )


def _levels(document: dict[str, Any]) -> dict[str, int]:
    return {str(name): int(level) for name, level in document.items()}
