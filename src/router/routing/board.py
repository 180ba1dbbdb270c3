"""The routing board: contact points as routing sees them, for one transaction.

A board is read in one of two ways:

* Unlocked (what the routing engine starts with): decisions are made on a plain snapshot,
  and `save` then *claims* the slots they took, in three statements: it locks the capacity
  rows it adds to (in agent, channel order), reads which of their agents are online, and
  adds to the rows of online agents with a conditional `UPDATE ... WHERE active + taken <=
  capacity`. A claim that finds the slot gone (another router process took it, or the agent
  left) is returned to the caller, who takes those offers back and decides them again.
  Routers working side by side contend only on the slots they both give out, and only from
  claim to commit.
* Locked (`lock=True`, the offer-expiry sweep and the engine's last resort): the capacity
  rows of the online agents are locked as they are read (in agent, channel order), then a
  new statement reads which of those agents are still online; only they are on the board.
  While the rows are locked nobody else changes their counts, so the in-memory counts stay
  the truth until commit and `save` writes them as they are; nor can an agent on the board
  leave `online` before it commits (leaving locks the same rows). An agent who came online
  meanwhile is simply not on this board.

Neither way locks or writes an `agents` row: routing and agents' actions (resolve, decline,
going offline) contend only on the capacity row of the slot itself.

No offer is ever left with an agent who is not online when the transaction commits. An
agent leaving `online` (`set_presence`) writes the agent row, then locks all of the agent's
capacity rows, and only then reads the offers it must take back. Under READ COMMITTED each
statement sees every commit made before it started, so of a claim (or a locked board) and
that presence change on the same agent, whichever locks the capacity rows second waits for
the other to commit:

* the claim first: `set_presence` waits for it, then reads its offers and takes them back;
* the presence change first: the claim waits for it, then reads the agent as not online
  (the read comes after the lock, in a statement of its own) and refuses the agent's slots.

And since `active` grows only under the row's lock (the conditional update, or the locked
board's counts), two router processes can never both give away an agent's last slot.

Lock order, so that waits do not form cycles: customers, conversations, the agent row, then
capacity rows in (agent, channel) order.

* routing batches: customers, conversations, capacity rows;
* the sweeps (expiry and the drain): conversations (skip locked), capacity rows;
* accept: the conversation; resolve, decline, transfers, supervisors' moves and reopening:
  the conversation, then the capacity rows of the slots freed or taken;
* `set_presence`: the agent's offered conversations, the agent row, its capacity rows;
  an administrator's edit of an agent: the agent row, its capacity rows.

The order bends in two places. A routing batch whose claim was refused locks more capacity
rows (another claim, or a locked board) after those it holds; and `set_presence`, after the
capacity rows, locks the offers claimed while it waited for them. PostgreSQL breaks the rare
cycle this allows, and the batch or the request starts again from scratch.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel, Presence
from router.db import driver_connection
from router.routing.decision import AgentSnapshot, Judgements, QueueSnapshot, WaitingOrder
from router.routing.hours import BusinessHours
from router.routing.policy import RoutingPolicy as Policy
from router.voice.schemas import WhileOnCall

DEFAULT_QUEUE = "default"
BUILT_IN_POLICY = Policy(version=1, rules=(), default_queue=DEFAULT_QUEUE)

Slot = tuple[str, Channel]

_LOCK_SLOTS = text(
    """
    SELECT c.agent_id, c.channel FROM agent_capacities AS c
    WHERE (c.agent_id, c.channel) IN (
        SELECT * FROM unnest(CAST(:agents AS uuid[]), CAST(:channels AS text[]))
    )
    ORDER BY c.agent_id, c.channel
    FOR UPDATE
    """
)
# Adds each slot's change to its capacity row, only where the row has room for it; the rows
# it returns are the slots claimed. Freed slots (negative changes) always apply. A slot that
# gets work records the time: the agent's last work, for the "idle longest" tie-break.
_CLAIM_SLOTS = text(
    """
    UPDATE agent_capacities AS c
    SET active = GREATEST(c.active + w.change, 0),
        last_work_at = CASE WHEN w.change > 0 THEN CAST(:now AS timestamptz)
                            ELSE c.last_work_at END
    FROM unnest(CAST(:agents AS uuid[]), CAST(:channels AS text[]), CAST(:changes AS int[]))
        AS w(agent_id, channel, change)
    WHERE c.agent_id = w.agent_id AND c.channel = w.channel
      AND (w.change <= 0 OR c.active + w.change <= c.capacity)
    RETURNING c.agent_id, c.channel
    """
)
_WRITE_COUNTS = text(
    """
    UPDATE agent_capacities AS c
    SET active = w.active,
        last_work_at = CASE WHEN w.took THEN CAST(:now AS timestamptz) ELSE c.last_work_at END
    FROM unnest(CAST(:agents AS uuid[]), CAST(:channels AS text[]), CAST(:active AS int[]),
                CAST(:took AS boolean[])) AS w(agent_id, channel, active, took)
    WHERE c.agent_id = w.agent_id AND c.channel = w.channel
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
    # Verdicts kept between the decisions made on this board (an agent is judged again
    # only once an offer or a release replaced their snapshot).
    judgements: Judgements = field(default_factory=Judgements)
    _changes: Counter[Slot] = field(default_factory=Counter)
    _taken: set[Slot] = field(default_factory=set)

    def queue_name(self, queue_id: uuid.UUID) -> str:
        for name, known in self.queue_ids.items():
            if known == queue_id:
                return name
        raise KeyError(queue_id)

    def take(self, agent_id: str, channel: Channel) -> None:
        """Count one more active conversation on the agent's channel."""
        self._adjust(agent_id, channel, +1)
        self._taken.add((agent_id, channel))

    def release(self, agent_id: str, channel: Channel) -> None:
        """Count one active conversation less (an offer lapsed or was declined)."""
        self._adjust(agent_id, channel, -1)

    def release_absent(self, agent_id: str, channel: Channel) -> None:
        """Free a slot of an agent who may not be on the board (away or offline).

        Unlocked boards only: the freed slot goes into the ordered claim with the rest.
        """
        assert not self.locked
        if agent_id in self.agents:
            self.release(agent_id, channel)
        else:
            self._changes[(agent_id, channel)] -= 1

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
        taken = set(self._taken)
        self._changes.clear()
        self._taken.clear()
        if self.locked:
            await self._write_counts(session, changes, taken)
            return set()
        if not changes:
            return set()
        return await self._claim(session, changes)

    async def _write_counts(
        self, session: AsyncSession, changes: dict[Slot, int], taken: set[Slot]
    ) -> None:
        """Under the board's locks the in-memory counts are the truth: write them as they are.

        A slot that got work records the time, even where a release on the same slot (an
        offer that moved on) leaves its count as it was.
        """
        slots = sorted(changes.keys() | taken)
        if not slots:
            return
        await session.execute(
            _WRITE_COUNTS,
            {
                "agents": [uuid.UUID(agent) for agent, _ in slots],
                "channels": [channel.value for _, channel in slots],
                "active": [self.agents[agent].active[channel] for agent, channel in slots],
                "took": [slot in taken for slot in slots],
                "now": self.now,
            },
        )

    async def _claim(self, session: AsyncSession, changes: dict[Slot, int]) -> set[Slot]:
        """Lock the slots' rows, then read who is online, then add where there is room.

        The presence read must come after the locks, in a statement of its own: see the
        module docstring for the race with an agent going offline.
        """
        await session.execute(
            _LOCK_SLOTS,
            {
                "agents": [uuid.UUID(agent) for agent, _ in changes],
                "channels": [channel.value for _, channel in changes],
            },
        )
        growing = sorted({agent for (agent, _), step in changes.items() if step > 0})
        online: set[str] = set()
        if growing:
            connection = await driver_connection(session)
            found = await connection.fetch(_STILL_ONLINE, [uuid.UUID(a) for a in growing])
            online = {str(row[0]) for row in found}
        wanted = {slot: step for slot, step in changes.items() if step <= 0 or slot[0] in online}
        claimed: set[Slot] = set()
        if wanted:
            rows = await session.execute(
                _CLAIM_SLOTS,
                {
                    "agents": [uuid.UUID(agent) for agent, _ in wanted],
                    "channels": [channel.value for _, channel in wanted],
                    "changes": list(wanted.values()),
                    "now": self.now,
                },
            )
            claimed = {(str(agent_id), Channel(channel)) for agent_id, channel in rows.all()}
        return {slot for slot, step in changes.items() if step > 0 and slot not in claimed}


async def active_policy(session: AsyncSession) -> Policy:
    """The active routing policy, or the built-in one that sends everything to `default`."""
    connection = await driver_connection(session)
    return _policy(await connection.fetchval(_POLICY))


_QUEUES = """
SELECT q.id, q.name, q.required_skills::text, q.language, q.business_hours::text,
       q.overflow_queue_id, array_remove(array_agg(m.agent_id), NULL),
       q.voice->>'while_on_call', q.order_waiting
FROM queues AS q LEFT JOIN queue_agents AS m ON m.queue_id = q.id
GROUP BY q.id
"""
_POLICY = "SELECT document::text FROM routing_policies WHERE active"
_ONLINE_AGENTS = (
    "SELECT id, skills::text, languages, idle_since, on_call_since IS NOT NULL FROM agents"
    " WHERE presence = 'online'"
    " ORDER BY id"
)
_CAPACITIES = (
    "SELECT agent_id, channel, capacity, active, last_work_at FROM agent_capacities"
    " WHERE agent_id = ANY($1::uuid[]) ORDER BY agent_id, channel"
)
_LOCK_CAPACITY_ROWS = " FOR UPDATE"
_STILL_ONLINE = "SELECT id FROM agents WHERE id = ANY($1::uuid[]) AND presence = 'online'"


async def load_board(
    session: AsyncSession,
    now: datetime,
    *,
    lock: bool = False,
    also_lock: Collection[uuid.UUID] = (),
) -> Board:
    """Read queues, the policy and the online agents with their capacities (`lock`: locked).

    Locked, the capacity rows of the agents in `also_lock` are locked in the same ordered
    statement, whether or not those agents are online (the caller frees their slots outside
    the board). An agent is idle since the latest of coming online (`agents.idle_since`)
    and their slots' last work.

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
            while_on_call=WhileOnCall(on_call) if on_call else WhileOnCall.ALLOW,
            order_waiting=WaitingOrder(order),
        )
        for _, name, skills, language, hours, overflow, members, on_call, order in queue_rows
    }
    agent_rows = await connection.fetch(_ONLINE_AGENTS)
    candidates = [row[0] for row in agent_rows]
    if lock:
        locked = sorted({*candidates, *also_lock})
        capacity_rows = await connection.fetch(_CAPACITIES + _LOCK_CAPACITY_ROWS, locked)
        # A new statement after the locks: whoever left `online` before they were taken
        # has committed by now and is left off; nobody can leave while they are held.
        online = {row[0] for row in await connection.fetch(_STILL_ONLINE, candidates)}
        agent_rows = [row for row in agent_rows if row[0] in online]
    else:
        capacity_rows = await connection.fetch(_CAPACITIES, candidates)
    capacity: dict[str, dict[Channel, int]] = {}
    active: dict[str, dict[Channel, int]] = {}
    last_work: dict[str, datetime] = {}
    for agent_id, channel, slots, taken, worked in capacity_rows:
        key = str(agent_id)
        capacity.setdefault(key, {})[Channel(channel)] = slots
        active.setdefault(key, {})[Channel(channel)] = taken
        if worked is not None and (key not in last_work or worked > last_work[key]):
            last_work[key] = worked
    agents = {}
    for agent_id, skills, languages, idle_since, on_call in agent_rows:
        key = str(agent_id)
        worked = last_work.get(key)
        agents[key] = AgentSnapshot(
            agent_id=key,
            presence=Presence.ONLINE,
            idle_since=idle_since if worked is None else max(idle_since, worked),
            skills=_levels(skills),
            languages=frozenset(languages),
            capacity=capacity.get(key, {}),
            active=active.get(key, {}),
            on_call=on_call,
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
