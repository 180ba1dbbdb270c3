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

import functools
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import cast

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel, Presence
from router.db import driver_connection
from router.models import Agent, AgentCapacity
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
    connection = await driver_connection(session)
    return _policy(await connection.fetchval(_POLICY))


_QUEUES = """
SELECT q.id, q.name, q.required_skills::text, q.language, q.business_hours::text,
       q.overflow_queue_id, array_remove(array_agg(m.agent_id), NULL)
FROM queues AS q LEFT JOIN queue_agents AS m ON m.queue_id = q.id
GROUP BY q.id
"""
_POLICY = "SELECT document::text FROM routing_policies WHERE active"
_ONLINE_AGENTS = (
    "SELECT id, skills::text, languages, idle_since FROM agents WHERE presence = 'online'"
    " ORDER BY id"
)
_CAPACITIES = (
    "SELECT agent_id, channel, capacity, active FROM agent_capacities"
    " WHERE agent_id = ANY($1::uuid[]) ORDER BY agent_id, channel"
)
# Not a share lock on agents: the board writes `idle_since` back, and upgrading a share lock
# held by two transactions at once is a deadlock.
_LOCK_AGENT_ROWS = " FOR NO KEY UPDATE"
_LOCK_CAPACITY_ROWS = " FOR UPDATE"


async def load_board(session: AsyncSession, now: datetime, *, lock: bool = False) -> Board:
    """Read queues, the policy and the online agents with their capacities (`lock`: locked).

    Plain statements on the driver connection: this runs once per routing batch. Documents
    (skills, hours, the policy) are parsed once per distinct content and then reused.
    """
    connection = await driver_connection(session)
    queue_rows = await connection.fetch(_QUEUES)
    names = {row[0]: row[1] for row in queue_rows}
    queues = {
        name: QueueSnapshot(
            name=name,
            required_skills=_levels(skills),
            language=language,
            agent_ids=frozenset(str(member) for member in members),
            hours=_hours(hours),
            overflow_queue=names.get(overflow) if overflow else None,
        )
        for _, name, skills, language, hours, overflow, members in queue_rows
    }
    agent_rows = await connection.fetch(_ONLINE_AGENTS + (_LOCK_AGENT_ROWS if lock else ""))
    capacity: dict[str, dict[Channel, int]] = {}
    active: dict[str, dict[Channel, int]] = {}
    for agent_id, channel, slots, taken in await connection.fetch(
        _CAPACITIES + (_LOCK_CAPACITY_ROWS if lock else ""), [row[0] for row in agent_rows]
    ):
        capacity.setdefault(str(agent_id), {})[Channel(channel)] = slots
        active.setdefault(str(agent_id), {})[Channel(channel)] = taken
    agents = {}
    for agent_id, skills, languages, idle_since in agent_rows:
        key = str(agent_id)
        agents[key] = AgentSnapshot(
            agent_id=key,
            presence=Presence.ONLINE,
            idle_since=idle_since,
            skills=_levels(skills),
            languages=frozenset(languages),
            capacity=capacity.get(key, {}),
            active=active.get(key, {}),
        )
    return Board(
        policy=await active_policy(session),
        queues=queues,
        queue_ids={row[1]: row[0] for row in queue_rows},
        agents=agents,
        now=now,
        locked=lock,
    )


@functools.lru_cache(maxsize=1024)
def _levels(document: str) -> Mapping[str, int]:
    """Skill levels from their JSON; the same mapping object for the same document."""
    return MappingProxyType({str(name): int(level) for name, level in json.loads(document).items()})


@functools.lru_cache(maxsize=256)
def _hours(document: str | None) -> BusinessHours | None:
    if document is None or document == "null":  # SQL NULL or a JSON null: always open
        return None
    return BusinessHours.model_validate_json(document)


@functools.lru_cache(maxsize=8)
def _policy(document: str | None) -> Policy:
    return BUILT_IN_POLICY if document is None else Policy.model_validate_json(document)
