"""The agents: created online with capacities, then `python -m bench.agents PLAN.json` works.

The pool learns of offers the way consoles do, from PostgreSQL's change notifications
(`LISTEN router_conversations`), then each offered agent accepts after a short think time and
resolves after a handling time, freeing the slot for the next conversation. It acts either
through the service functions the console API calls (`--agents service`, the default: no
HTTP load on the server under test) or through `/v1` with each agent's API key
(`--agents api`). It records when it first saw each offer, for the latency that includes
the commit and the notification.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.stack import Database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

# Conversations an agent may hold per channel. Generous on purpose: 40 agents x 81 slots with
# about a second of handling each take far more than the ~320 new conversations a second that
# 500 webhooks/s bring, so staffing does not delay offers and event-to-offer measures the
# router. The pool itself stays a realistic size: routing judges every online agent for every
# conversation, so more agents would cost the router more.
CAPACITIES = {
    "email": 24,
    "chat": 12,
    "whatsapp": 12,
    "messenger": 9,
    "instagram": 9,
    "sms": 12,
    "voice": 3,
}
OFFERED = (
    "SELECT id, agent_id, offered_at FROM conversations"
    " WHERE status = 'open' AND offer_state = 'offered' AND agent_id IS NOT NULL"
)


async def seed_agents(database: Database, count: int, *, api_keys: bool) -> dict[str, str]:
    """`count` online agents with capacities in the default queue; {agent id: API key or ""}."""
    from sqlalchemy import insert, select

    from router.auth.roles import Role
    from router.auth.service import issue_key
    from router.db import create_engine, create_sessionmaker, transaction
    from router.models import Agent, AgentCapacity, Queue, QueueAgent

    engine = create_engine(database.url, pool_size=1)
    agents: dict[str, str] = {}
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            queue = await session.scalar(select(Queue.id).where(Queue.name == "default"))
            ids = [uuid.uuid4() for _ in range(count)]
            await session.execute(
                insert(Agent),
                [
                    {
                        "id": agent,
                        "handle": f"agent{n:03d}",
                        "display_name": f"Agent {n:03d}",
                        "presence": "online",
                        "languages": ["en"],
                    }
                    for n, agent in enumerate(ids)
                ],
            )
            await session.execute(
                insert(AgentCapacity),
                [
                    {"agent_id": agent, "channel": channel, "capacity": slots, "active": 0}
                    for agent in ids
                    for channel, slots in CAPACITIES.items()
                ],
            )
            await session.execute(
                insert(QueueAgent), [{"queue_id": queue, "agent_id": agent} for agent in ids]
            )
            for n, agent in enumerate(ids):
                token = ""
                if api_keys:
                    issued = await issue_key(
                        session,
                        role=Role.AGENT,
                        name=f"bench {n}",
                        actor="bench",
                        agent_handle=f"agent{n:03d}",
                    )
                    token = issued.token
                agents[str(agent)] = token
    finally:
        await engine.dispose()
    return agents


@dataclass
class AgentPlan:
    """How the pool works: who, through what, how fast."""

    database_url: str
    dsn: str
    host: str | None
    agents: dict[str, str]
    out: str
    mode: str = "service"  # or "api"
    api: str = ""
    think_seconds: tuple[float, float] = (0.05, 0.3)
    handle_seconds: tuple[float, float] = (0.3, 1.0)
    # Agents act independently, so many actions are in flight at once (each console its own
    # request); bounded by the connections PostgreSQL allows the run (100 by default).
    concurrency: int = 24


@dataclass
class _Counts:
    seen: int = 0
    accepted: int = 0
    resolved: int = 0
    conflicts: int = 0
    errors: int = 0
    drains: int = 0
    observed: dict[str, float] = field(default_factory=dict)


class AgentPool:
    """Accepts every offer to the pool's agents and resolves the conversation later."""

    def __init__(self, plan: AgentPlan) -> None:
        self.plan = plan
        self.counts = _Counts()
        self.stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._handled: set[tuple[str, object]] = set()
        self._slots = asyncio.Semaphore(plan.concurrency)
        self._rng = random.Random(7)
        self._tasks: set[asyncio.Task[None]] = set()
        self._drain_requested = asyncio.Event()

    async def run(self) -> None:
        """Work until SIGTERM."""
        import asyncpg
        import httpx

        from router.db import create_engine, create_sessionmaker
        from router.settings import Settings

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        self.settings = Settings()
        # `create_engine` allows as many overflow connections as its pool size.
        engine = create_engine(self.plan.database_url, pool_size=self.plan.concurrency // 2)
        self.sessions = create_sessionmaker(engine)
        self.http = httpx.AsyncClient(base_url=self.plan.api, timeout=30.0)
        listener = await asyncpg.connect(self.plan.dsn, host=self.plan.host)
        await listener.add_listener("router_conversations", lambda *_: self._wake.set())
        reader = await asyncpg.connect(self.plan.dsn, host=self.plan.host)
        helpers = [loop.create_task(self._progress()), loop.create_task(self._drainer())]
        try:
            while not self.stop.is_set():
                await self._poll(reader)
                waited = loop.create_task(self._wake.wait())
                stopped = loop.create_task(self.stop.wait())
                await asyncio.wait({waited, stopped}, timeout=0.25, return_when="FIRST_COMPLETED")
                waited.cancel()
                stopped.cancel()
                self._wake.clear()
                # Coalesce bursts of notifications into one query.
                await asyncio.sleep(0.02)
        finally:
            for task in [*self._tasks, *helpers]:
                task.cancel()
            await asyncio.gather(*self._tasks, *helpers, return_exceptions=True)
            await listener.close()
            await reader.close()
            await self.http.aclose()
            await engine.dispose()

    async def _poll(self, reader: object) -> None:
        rows = await reader.fetch(OFFERED)  # type: ignore[attr-defined]
        now = time.time()
        for row in rows:
            key = (str(row["id"]), row["offered_at"])
            if key in self._handled or str(row["agent_id"]) not in self.plan.agents:
                continue
            self._handled.add(key)
            self.counts.seen += 1
            self.counts.observed.setdefault(key[0], now)
            task = asyncio.get_running_loop().create_task(self._work(key[0], str(row["agent_id"])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self, conversation: str, agent: str) -> None:
        await asyncio.sleep(self._rng.uniform(*self.plan.think_seconds))
        if not await self._act("accept", conversation, agent):
            return
        self.counts.accepted += 1
        await asyncio.sleep(self._rng.uniform(*self.plan.handle_seconds))
        if await self._act("resolve", conversation, agent):
            self.counts.resolved += 1
            # What the console API does after a resolve: offer the freed slot at once.
            self._drain_requested.set()

    async def _act(self, action: str, conversation: str, agent: str) -> bool:
        async with self._slots:
            try:
                if self.plan.mode == "api":
                    return await self._act_api(action, conversation, agent)
                return await self._act_service(action, conversation, agent)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counts.errors += 1
                return False

    async def _act_api(self, action: str, conversation: str, agent: str) -> bool:
        response = await self.http.post(
            f"/v1/conversations/{conversation}/{action}",
            headers={"Authorization": f"Bearer {self.plan.agents[agent]}"},
        )
        if response.status_code == 409:
            self.counts.conflicts += 1
        return response.status_code == 200

    async def _act_service(self, action: str, conversation: str, agent: str) -> bool:
        from router.conversations import service
        from router.db import in_transaction
        from router.errors import ProblemError
        from router.inbound.envelope import utcnow

        cid, aid = uuid.UUID(conversation), uuid.UUID(agent)

        async def work(session: AsyncSession) -> object:
            if action == "accept":
                return await service.accept_offer(session, self.settings, cid, aid, utcnow())
            return await service.resolve(session, self.settings, cid, aid, utcnow())

        try:
            await in_transaction(self.sessions, work)
        except ProblemError:
            self.counts.conflicts += 1
            return False
        return True

    async def _drainer(self) -> None:
        from router.db import in_transaction
        from router.inbound.envelope import utcnow
        from router.routing.offers import drain_waiting

        while True:
            await self._drain_requested.wait()
            self._drain_requested.clear()
            if self.plan.mode == "api":
                continue  # the API drains after each resolve itself
            try:
                async with self._slots:
                    await in_transaction(
                        self.sessions, lambda s: drain_waiting(s, self.settings, utcnow())
                    )
                self.counts.drains += 1
            except Exception:
                self.counts.errors += 1

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            counts = self.counts
            line = {
                "seen": counts.seen,
                "accepted": counts.accepted,
                "resolved": counts.resolved,
                "conflicts": counts.conflicts,
                "errors": counts.errors,
            }
            print(json.dumps(line), flush=True)

    def results(self) -> dict[str, object]:
        counts = self.counts
        return {
            "seen": counts.seen,
            "accepted": counts.accepted,
            "resolved": counts.resolved,
            "conflicts": counts.conflicts,
            "errors": counts.errors,
            "drains": counts.drains,
            "observed": counts.observed,
        }


def main(argv: list[str]) -> int:
    """Run the pool described by the plan file until SIGTERM, then write what it did."""
    raw = json.loads(Path(argv[0]).read_text())
    raw["think_seconds"] = tuple(raw["think_seconds"])
    raw["handle_seconds"] = tuple(raw["handle_seconds"])
    pool = AgentPool(AgentPlan(**raw))
    # On uvloop, as the API a real team's consoles call runs: the pool stands in for them.
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(pool.run())
    Path(pool.plan.out).write_text(json.dumps(pool.results()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
