"""Nobody waits beside a free agent: random days of routing on a real PostgreSQL.

Arrivals (new customers and customers writing again), offers lapsing, declines, accepts,
presence changes and resolves run through the same service functions the routing engine,
the sweeps and the console use, on a controllable clock. At the end the clock passes the
offer timeout and the exclusion window, the sweeps run, and then no waiting conversation
may have an eligible agent with a free slot on its channel. After every step no agent holds
more than their capacity and every open conversation has exactly one owner.

One database per test; its rows are emptied between examples (a fresh database per example
would cost seconds each).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.conversations import service
from router.db import in_transaction
from router.models import Conversation, ConversationStatus, OfferState
from router.routing.engine import RoutingEngine
from router.routing.offers import drain_waiting, expire_offers
from router.settings import Settings
from tests import factories, seed

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
OFFER_TIMEOUT = 30.0
EXCLUSION = 120.0
CUSTOMERS = 6


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class AgentPlan:
    sms: int
    email: int
    presence: Presence


_presences = st.sampled_from([Presence.ONLINE, Presence.AWAY, Presence.OFFLINE])
_agents = st.lists(
    st.builds(
        AgentPlan,
        sms=st.integers(0, 2),
        email=st.integers(0, 1),
        presence=st.sampled_from([Presence.ONLINE, Presence.ONLINE, Presence.OFFLINE]),
    ),
    min_size=1,
    max_size=3,
)
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(0, CUSTOMERS - 1), st.booleans()),
        st.tuples(st.just("lapse")),
        st.tuples(st.just("decline"), st.integers(0, 7)),
        st.tuples(st.just("accept"), st.integers(0, 7)),
        st.tuples(st.just("resolve"), st.integers(0, 7)),
        st.tuples(st.just("presence"), st.integers(0, 2), _presences),
        st.tuples(st.just("sweep")),
    ),
    min_size=4,
    max_size=24,
)

_RESET = (
    "TRUNCATE conversation_events, outbox, messages, conversation_threads, conversations,"
    " customer_identities, customers, queue_agents, agent_capacities, agents CASCADE"
)

# Waiting conversations beside an online agent of their queue with a free slot on their
# channel (the default queue asks no skills or language) who is not excluded from it at
# :now. Only an exclusion with an end still to come counts: one without an end (the bare
# reason of old rows) would leave the agent out for ever.
_STRANDED = text(
    """
    SELECT c.id, c.channel, c.excluded_agents::text, a.id AS agent
    FROM conversations AS c
    JOIN queue_agents AS m ON m.queue_id = c.queue_id
    JOIN agents AS a ON a.id = m.agent_id AND a.presence = 'online'
    JOIN agent_capacities AS k
      ON k.agent_id = a.id AND k.channel = c.channel AND k.active < k.capacity
    WHERE c.status = 'open' AND c.agent_id IS NULL
      AND COALESCE(
            (c.excluded_agents -> CAST(a.id AS text) ->> 'until')::timestamptz > :now, false
          ) IS NOT TRUE
    """
)
# Each slot's count against the conversations its agent holds (offered or accepted).
_LOADS = text(
    """
    SELECT k.agent_id, k.channel, k.capacity, k.active, count(c.id) AS held
    FROM agent_capacities AS k
    LEFT JOIN conversations AS c
      ON c.agent_id = k.agent_id AND c.channel = k.channel AND c.status = 'open'
    GROUP BY k.agent_id, k.channel, k.capacity, k.active
    """
)
_OWNERS = text(
    """
    SELECT id, status, agent_id, queue_id, offer_state FROM conversations
    WHERE (status = 'open' AND agent_id IS NULL AND queue_id IS NULL)
       OR (status = 'open' AND (agent_id IS NULL) <> (offer_state IS NULL))
       OR (status = 'resolved' AND agent_id IS NOT NULL)
    """
)


class Day:
    """One example's router: its settings, clock, engine and agents."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        agents: list[uuid.UUID],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = Clock(START)
        self.engine = RoutingEngine(sessions, settings, clock=self.clock)
        self.agents = agents

    async def run(self, step: tuple[Any, ...]) -> None:
        self.clock.advance(1)
        kind = step[0]
        if kind == "arrive":
            _, customer, on_email = step
            sender = f"+1415555{customer:04d}"
            message = (
                factories.email(sender=f"c{customer}@example.com", thread=f"c{customer}")
                if on_email
                else factories.sms(sender=sender)
            )
            await self.engine.process([message])
        elif kind == "lapse":
            self.clock.advance(OFFER_TIMEOUT + 1)
            await self.sweep()
        elif kind == "sweep":
            await self.sweep()
        elif kind == "presence":
            _, index, presence = step
            agent = self.agents[index % len(self.agents)]
            await self.transaction(
                lambda s: service.set_presence(
                    s, self.settings, agent, presence, self.clock(), actor="system"
                )
            )
            await self.drain()
        else:
            _, index = step
            await self.act(kind, index)

    async def act(self, kind: str, index: int) -> None:
        wanted = OfferState.OFFERED.value if kind in ("decline", "accept") else None
        async with self.sessions() as session:
            query = select(Conversation.id, Conversation.agent_id).where(
                Conversation.status == ConversationStatus.OPEN.value,
                Conversation.agent_id.is_not(None),
            )
            if wanted is not None:
                query = query.where(Conversation.offer_state == wanted)
            found = (await session.execute(query.order_by(Conversation.id))).all()
        if not found:
            return
        cid, agent = found[index % len(found)]
        now = self.clock()
        if kind == "decline":
            await self.transaction(
                lambda s: service.decline_offer(s, self.settings, cid, agent, now)
            )
        elif kind == "accept":
            await self.transaction(
                lambda s: service.accept_offer(s, self.settings, cid, agent, now)
            )
        else:
            await self.transaction(lambda s: service.resolve(s, self.settings, cid, agent, now))
        if kind != "accept":
            await self.drain()  # as the console does after the action commits

    async def transaction(self, work: Any) -> None:
        await in_transaction(self.sessions, work)

    async def drain(self) -> int:
        return await in_transaction(
            self.sessions, lambda s: drain_waiting(s, self.settings, self.clock())
        )

    async def sweep(self) -> None:
        """What `sweep_forever` does each interval."""
        await in_transaction(self.sessions, lambda s: expire_offers(s, self.settings, self.clock()))
        await self.drain()

    async def settle(self) -> None:
        """Let every offer lapse and every exclusion end, then sweep until nothing moves.

        The last sweeps' own lapses leave their agents out again, as they should: those
        exclusions are in force at the end, and the check respects them.
        """
        self.clock.advance(max(OFFER_TIMEOUT, EXCLUSION) + 1)
        for _ in range(10):
            lapsed = await in_transaction(
                self.sessions, lambda s: expire_offers(s, self.settings, self.clock())
            )
            if not await self.drain() and not lapsed:
                return

    async def check_loads_and_owners(self) -> None:
        async with self.sessions() as session:
            loads = (await session.execute(_LOADS)).all()
            owners = (await session.execute(_OWNERS)).all()
        over = [row for row in loads if row.active > row.capacity or row.held != row.active]
        assert over == [], f"slots over capacity or miscounted: {over}"
        assert owners == [], f"conversations without exactly one owner: {owners}"


@given(agents=_agents, steps=_steps)
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_no_conversation_waits_beside_a_free_eligible_agent(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    agents: list[AgentPlan],
    steps: list[tuple[Any, ...]],
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text(_RESET))
    default = await seed.queue_id(sessions, "default")
    agent_ids = [
        await seed.add_agent(
            sessions,
            f"agent{index}",
            capacity={"sms": plan.sms, "email": plan.email},
            queues=[default],
            presence=plan.presence.value,
            idle_since=START,
        )
        for index, plan in enumerate(agents)
    ]
    settings = Settings(
        database_url=database_url,  # type: ignore[arg-type]
        offer_timeout_seconds=OFFER_TIMEOUT,
        offer_exclusion_seconds=EXCLUSION,
    )
    day = Day(sessions, settings, agent_ids)
    note(f"agents: {agents}")
    note(f"steps: {steps}")
    for step in steps:
        await day.run(step)
        await day.check_loads_and_owners()
    await day.settle()
    await day.check_loads_and_owners()
    async with sessions() as session:
        stranded = (await session.execute(_STRANDED, {"now": day.clock()})).all()
    assert stranded == [], f"waiting beside a free eligible agent: {stranded}"
