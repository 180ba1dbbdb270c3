"""The load generator: `python -m bench.load PLAN.json` (a separate process).

It prepares its signed webhooks before the clock starts, then sends them over keep-alive
connections either at a fixed rate (open loop: each request has a scheduled time and its
latency counts from then, so a stalled server cannot hide its queue) or as fast as a fixed
number of connections allow (closed loop). It prints one progress line a second on stdout
and writes every request's timings and its own CPU use to the plan's output file.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.httpclient import Client
from bench.payloads import FOLLOW_UP_SHARE, SOURCES, Secrets, Traffic, Webhook

DRAIN_SECONDS = 30.0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (as uvicorn picks it), else asyncio's default."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@dataclass
class LoadPlan:
    """What to send, where, how fast and for how long."""

    host: str
    port: int
    out: str
    mode: str  # "rate" (open loop) or "max" (closed loop)
    duration: float
    warmup: float = 1.0
    rate: float = 500.0
    concurrency: int = 32
    connections: int = 256
    seed: int = 1
    tag: str = "bench"
    secrets: dict[str, str] = field(default_factory=dict)
    # Requests to prepare up front; with `recycle` they are sent round and round (ceilings,
    # whose bare apps check nothing), else each is sent once and more are built if needed.
    prepared: int = 10_000
    recycle: bool = False
    follow_ups: float = FOLLOW_UP_SHARE


@dataclass
class _Results:
    sched: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    source: list[int] = field(default_factory=list)
    # (provider, provider_message_id, wall-clock send time) of every thread-opening message.
    opens: list[tuple[str, str, float]] = field(default_factory=list)
    messages_accepted: int = 0


class LoadGenerator:
    """Sends the plan's webhooks and records what happened to each."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        secrets = Secrets(**plan.secrets) if plan.secrets else Secrets.generate(random.Random(0))
        self.traffic = Traffic(secrets, seed=plan.seed, tag=plan.tag, follow_ups=plan.follow_ups)
        self.prepared: list[tuple[Webhook, bytes]] = [self._make() for _ in range(plan.prepared)]
        self.built_live = 0
        self.results = _Results()
        self.client = Client(plan.host, plan.port, plan.connections)
        self.in_flight = 0
        self._next = 0
        self._source_index = {name: i for i, name in enumerate(SOURCES)}
        self.clock_offset = 0.0

    def _make(self) -> tuple[Webhook, bytes]:
        webhook = self.traffic.next()
        return webhook, webhook.raw()

    def _take(self) -> tuple[Webhook, bytes]:
        index = self._next
        self._next += 1
        if index < len(self.prepared):
            return self.prepared[index]
        if self.plan.recycle:
            return self.prepared[index % len(self.prepared)]
        self.built_live += 1
        return self._make()

    async def _one(self, scheduled: float, webhook: Webhook, raw: bytes) -> None:
        self.in_flight += 1
        sent = time.perf_counter()
        try:
            status = await self.client.request(raw)
        except OSError:
            status = 0
        finally:
            self.in_flight -= 1
        done = time.perf_counter()
        results = self.results
        results.sched.append(scheduled)
        results.sent.append(sent)
        results.done.append(done)
        results.status.append(status)
        results.source.append(self._source_index[webhook.source])
        if status == 200 and webhook.message is not None:
            results.messages_accepted += 1
            if webhook.opens:
                provider, message_id = webhook.message
                results.opens.append((provider, message_id, sent + self.clock_offset))

    async def _fixed_rate(self, start: float, end: float) -> None:
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()
        interval = 1.0 / self.plan.rate
        index = 0
        while True:
            scheduled = start + index * interval
            if scheduled >= end:
                break
            webhook, raw = self._take()
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = loop.create_task(self._one(scheduled, webhook, raw))
            pending.add(task)
            task.add_done_callback(pending.discard)
            index += 1
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)

    async def _closed_loop(self, end: float) -> None:
        loop = asyncio.get_running_loop()

        async def worker() -> None:
            while time.perf_counter() < end:
                webhook, raw = self._take()
                await self._one(time.perf_counter(), webhook, raw)

        workers = [loop.create_task(worker()) for _ in range(self.plan.concurrency)]
        await asyncio.wait(workers, timeout=end - time.perf_counter() + DRAIN_SECONDS)

    async def _progress(self, start: float) -> None:
        while True:
            await asyncio.sleep(1.0)
            statuses = self.results.status
            ok = statuses.count(200) if len(statuses) < 200_000 else -1
            line = {
                "t": round(time.perf_counter() - start, 1),
                "done": len(statuses),
                "ok": ok,
                "in_flight": self.in_flight,
            }
            print(json.dumps(line), flush=True)

    async def run(self) -> dict[str, object]:
        """Send for warmup + duration seconds; the numbers of everything that was sent."""
        loop = asyncio.get_running_loop()
        self.clock_offset = time.time() - time.perf_counter()
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter() + 0.05
        measure_from = start + self.plan.warmup
        end = measure_from + self.plan.duration
        print(json.dumps({"ready": True}), flush=True)
        progress = loop.create_task(self._progress(start))
        if self.plan.mode == "rate":
            await self._fixed_rate(start, end)
        else:
            await self._closed_loop(end)
        progress.cancel()
        finished = time.perf_counter()
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        self.client.close()
        cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
            usage_after.ru_stime - usage_before.ru_stime
        )
        return {
            "plan": {**asdict(self.plan), "secrets": {}},
            "sources": list(SOURCES),
            "start": start,
            "measure_from": measure_from,
            "end": end,
            "finished": finished,
            "clock_offset": self.clock_offset,
            "cpu_seconds": cpu,
            "built_live": self.built_live,
            "connects": self.client.connects,
            "messages_accepted": self.results.messages_accepted,
            "records": {
                "sched": self.results.sched,
                "sent": self.results.sent,
                "done": self.results.done,
                "status": self.results.status,
                "source": self.results.source,
            },
            "opens": self.results.opens,
        }


def main(argv: list[str]) -> int:
    """Run the plan in `argv[0]` (a JSON file) and write its results."""
    plan = LoadPlan(**json.loads(Path(argv[0]).read_text()))
    generator = LoadGenerator(plan)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        results = runner.run(generator.run())
    Path(plan.out).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
