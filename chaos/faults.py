"""Faults at random times while the load runs: consumers killed, a broker killed, PostgreSQL
restarted (once kept down for a while), each put right again and timed."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field

from chaos.stack import Stack


@dataclass
class Fault:
    """One planned fault: what, when (seconds into the load), how long the part stays down."""

    what: str
    at: float
    down: float
    target: int = 0
    # Filled in as it happens: seconds into the load it began, and until the part was back.
    began: float | None = None
    recovered: float | None = None
    error: str = ""

    @property
    def duration(self) -> float | None:
        if self.began is None or self.recovered is None:
            return None
        return self.recovered - self.began


@dataclass
class FaultPlan:
    """How many of each fault a run injects."""

    consumer_kills: int = 10
    broker_down: float = 20.0
    postgres_long_down: float = 30.0
    postgres_short_down: float = 2.0
    faults: list[Fault] = field(default_factory=list)


def plan_faults(rng: random.Random, duration: float, plan: FaultPlan) -> list[Fault]:
    """Random times within the load, the slow faults in separate thirds so each is seen alone.

    Consumer kills fall anywhere (also during the others), at least a few seconds apart.
    """
    third = duration / 3
    slow = [
        Fault("postgres restart", 0, plan.postgres_long_down),
        Fault("broker kill", 0, plan.broker_down, target=rng.randrange(3)),
        Fault("postgres restart", 0, plan.postgres_short_down),
    ]
    rng.shuffle(slow)
    for n, fault in enumerate(slow):
        latest = max(0.0, third - fault.down - 15)
        fault.at = round(n * third + 5 + rng.uniform(0, latest), 1)
    kills: list[Fault] = []
    spacing = max(2.0, duration * 0.85 / (plan.consumer_kills + 1) / 2)
    while len(kills) < plan.consumer_kills:
        at = round(rng.uniform(duration * 0.05, duration * 0.9), 1)
        if all(abs(at - other.at) >= spacing for other in kills):
            kills.append(Fault("consumer SIGKILL", at, rng.uniform(0.5, 3.0), rng.randrange(2)))
    return sorted(slow + kills, key=lambda f: f.at)


class FaultRunner:
    """Injects the planned faults against the stack, relative to the load's start."""

    def __init__(self, stack: Stack, faults: list[Fault], say: object = print) -> None:
        self.stack = stack
        self.faults = faults
        self._say = say
        self._postgres = asyncio.Lock()

    async def run(self, started: float) -> None:
        """Each fault at its time (concurrently: a consumer may die while PostgreSQL is down)."""
        await asyncio.gather(*(self._at(fault, started) for fault in self.faults))

    async def keep_consumers(self, started: float, stop: asyncio.Event) -> None:
        """Start again a consumer that exited by itself, as an orchestrator would; note it."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
            for n, consumer in enumerate(self.stack.consumers):
                async with consumer.lock:
                    child = consumer.child
                    if child is None or child.alive():
                        continue
                    at = time.monotonic() - started
                    exited = Fault("consumer exited", at, 0.0, n, began=at)
                    exited.error = f"exit code {child.process.returncode}, started again"
                    self.faults.append(exited)
                    self._say(f"{consumer.name} exited by itself; starting it again")  # type: ignore[operator]
                    await self.stack.start_consumer(consumer, ready=False)
                    exited.recovered = time.monotonic() - started

    async def _at(self, fault: Fault, started: float) -> None:
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        fault.began = time.monotonic() - started
        try:
            if fault.what == "consumer SIGKILL":
                await self._kill_consumer(fault)
            elif fault.what == "broker kill":
                await self._kill_broker(fault)
            else:
                await self._restart_postgres(fault)
        except Exception as error:  # the run goes on; the report shows what failed
            fault.error = f"{type(error).__name__}: {error}"[:200]
        fault.recovered = time.monotonic() - started
        self._say(f"fault: {fault.what} at {fault.began:.0f} s, back after {fault.duration:.1f} s")  # type: ignore[operator]

    async def _kill_consumer(self, fault: Fault) -> None:
        consumer = self.stack.consumers[fault.target]
        async with consumer.lock:
            if consumer.child is not None and consumer.child.alive():
                consumer.child.process.kill()
                await consumer.child.wait()
            await asyncio.sleep(fault.down)
            # While PostgreSQL is down a consumer cannot become ready; do not wait for that.
            await self.stack.start_consumer(consumer, ready=not self._postgres.locked())

    async def _kill_broker(self, fault: Fault) -> None:
        broker = self.stack.cluster.brokers[fault.target]
        await asyncio.to_thread(broker.kill)
        await asyncio.sleep(fault.down)
        await asyncio.to_thread(broker.launch)
        await asyncio.to_thread(broker.wait_listening, 90.0)

    async def _restart_postgres(self, fault: Fault) -> None:
        async with self._postgres:
            mode = "immediate" if fault.down >= 10 else "fast"
            await asyncio.to_thread(self.stack.postgres.halt, mode)
            await asyncio.sleep(fault.down)
            await asyncio.to_thread(self.stack.postgres.resume)
