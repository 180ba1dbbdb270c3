"""The routing board: contact points as routing sees them, for one transaction.

A board is read in one of two ways:

* Unlocked (what the routing engine starts with): decisions are made on a plain snapshot,
  and `save` then *claims* the slots they took: it locks only the agents it gives work to
  (in id order), checks they are still online, and adds to each capacity row with a
  conditional `UPDATE ... WHERE active + taken <= capacity`. A claim that finds the slot gone
  (another router process took it, or the agent left) is returned to the caller, who takes
  those offers back and decides them again on a locked board. Routers working side by side
  contend only on the agents they both give work to, and only from claim to commit.
* Locked (`lock=True`, the sweeps and the engine's second pass): the online agents and their
  capacity rows are locked as they are read, agents first, then capacities, each in id
  order, so the in-memory counts stay the truth until commit and `save` writes them as they
  are.

Either way two router processes can never both give away an agent's last slot, and no
offer is ever made to an agent who is not online when the transaction commits.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel, Presence
from router.models import Agent, AgentCapacity, Queue, QueueAgent, RoutingPolicy
from router.routing.decision import AgentSnapshot, QueueSnapshot
from router.routing.hours import BusinessHours
from router.routing.policy import RoutingPolicy as Policy

DEFAULT_QUEUE = "default"
BUILT_IN_POLICY = Policy(version=1, rules=(), default_queue=DEFAULT_QUEUE)

Slot = tuple[str, Channel]

_LOCK_AGENTS = text(
    "SELECT id, presence FROM agents WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE"
)
# Adds each slot's change to its capacity row, only where the row has room for it; the rows
# it returns are the slots claimed. Freed slots (negative changes) always apply.
_CLAIM_SLOTS = text(
    """
    UPDATE agent_capacities AS c
    SET active = GREATEST(c.active + w.change, 0)
    FROM unnest(CAST(:agents AS uuid[]), CAST(:channels AS text[]), CAST(:changes AS int[]))
        AS w(agent_id, channel, change)
    WHERE c.agent_id = w.agent_id AND c.channel = w.channel
      AND (w.change <= 0 OR c.active + w.change <= c.capacity)
    RETURNING c.agent_id, c.channel
    """
)


@dataclass
class Board:
    policy: Policy
    queues: dict[str, QueueSnapshot]
    queue_ids: dict[str, uuid.UUID]
    agents: dict[str, AgentSnapshot]
    now: datetime
    locked: bool = False
    _changes: Counter[Slot] = field(default_factory=Counter)
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
        self._changes[(agent_id, channel)] += step

    async def save(self, session: AsyncSession) -> set[Slot]:
        """Write the board's changes; the slots that could not be claimed (unlocked only).

        An offer holding one of the returned slots must be taken back by the caller: the
        slot went to someone else, or its agent is no longer online.
        """
        changes = {slot: step for slot, step in sorted(self._changes.items()) if step}
        busy = sorted(self._busy)
        self._changes.clear()
        self._busy.clear()
        if not changes and not busy:
            return set()
        if self.locked:
            await self._write_counts(session, changes, busy)
            return set()
        return await self._claim(session, changes, busy)

    async def _write_counts(
        self, session: AsyncSession, changes: dict[Slot, int], busy: list[str]
    ) -> None:
        """Under the board's locks the in-memory counts are the truth: write them as they are."""
        if changes:
            table = cast(Table, AgentCapacity.__table__)
            await session.execute(
                update(table)
                .where(
                    table.c.agent_id == bindparam("b_agent"),
                    table.c.channel == bindparam("b_channel"),
                )
                .values(active=bindparam("b_active")),
                [
                    {
                        "b_agent": uuid.UUID(agent),
                        "b_channel": channel.value,
                        "b_active": self.agents[agent].active[channel],
                    }
                    for agent, channel in changes
                ],
                execution_options={"synchronize_session": False},
            )
        if busy:
            await self._mark_busy(session, busy)

    async def _claim(
        self, session: AsyncSession, changes: dict[Slot, int], busy: list[str]
    ) -> set[Slot]:
        agents = sorted({agent for agent, _ in changes} | set(busy))
        presence = {
            str(agent_id): value
            for agent_id, value in (
                await session.execute(_LOCK_AGENTS, {"ids": [uuid.UUID(a) for a in agents]})
            ).all()
        }
        gone = {agent for agent in agents if presence.get(agent) != Presence.ONLINE.value}
        wanted = {slot: step for slot, step in changes.items() if step <= 0 or slot[0] not in gone}
        claimed: set[Slot] = set()
        if wanted:
            rows = await session.execute(
                _CLAIM_SLOTS,
                {
                    "agents": [uuid.UUID(agent) for agent, _ in wanted],
                    "channels": [channel.value for _, channel in wanted],
                    "changes": list(wanted.values()),
                },
            )
            claimed = {(str(agent_id), Channel(channel)) for agent_id, channel in rows.all()}
        refused = {slot for slot, step in changes.items() if step > 0 and slot not in claimed}
        kept = [agent for agent in busy if any(slot[0] == agent for slot in claimed)]
        if kept:
            await self._mark_busy(session, kept)
        return refused

    async def _mark_busy(self, session: AsyncSession, agents: list[str]) -> None:
        await session.execute(
            update(Agent)
            .where(Agent.id.in_([uuid.UUID(agent) for agent in agents]))
            .values(idle_since=self.now)
            .execution_options(synchronize_session=False)
        )


async def active_policy(session: AsyncSession) -> Policy:
    """The active routing policy, or the built-in one that sends everything to `default`."""
    document = await session.scalar(
        select(RoutingPolicy.document).where(RoutingPolicy.active.is_(True))
    )
    return BUILT_IN_POLICY if document is None else Policy.model_validate(document)


async def load_board(session: AsyncSession, now: datetime, *, lock: bool = False) -> Board:
    """Read queues, the policy and the online agents with their capacities (`lock`: locked)."""
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
        locked=lock,
    )


def _levels(document: dict[str, Any]) -> dict[str, int]:
    return {str(name): int(level) for name, level in document.items()}
