"""Starting the service's processes for a phase: `router consume` members and the agents."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

from bench.agents import AgentPlan
from bench.context import RunContext
from bench.processes import ROUTER, Child, environment, wait_ready
from bench.scrape import Snapshot, difference, merge, scrape
from bench.stack import Database
from devstack.net import free_port

PYTHON = sys.executable


def last_json(lines: list[str]) -> dict[str, Any]:
    """The last JSON line a child printed (its latest progress or its result)."""
    for line in reversed(lines):
        if line.startswith("{"):
            found: dict[str, Any] = json.loads(line)
            return found
    return {}


async def start_consumers(
    ctx: RunContext, env: dict[str, str], children: list[Child]
) -> list[Child]:
    """`router consume` processes (each with its own probe port), ready with partitions."""
    consumers = []
    for n in range(1, ctx.options.consumers + 1):
        port = free_port()
        extra = {
            **env,
            "ROUTER_CONSUMER_HTTP_PORT": str(port),
            "ROUTER_CONSUMER_NICENESS": str(ctx.options.consumer_nice),
        }
        child = await Child.start(
            f"consume-{n}", [ROUTER, "consume"], environment(extra), ctx.folder
        )
        child.metrics_url = f"http://127.0.0.1:{port}/metrics"
        children.append(child)
        consumers.append((child, port))
    # Ready means holding partitions: wait for every member, so the group has settled.
    for child, port in consumers:
        await wait_ready(child, f"http://127.0.0.1:{port}/readyz")
    return [child for child, _ in consumers]


async def start_agents(
    ctx: RunContext,
    database: Database,
    agents: dict[str, str],
    env: dict[str, str],
    http_port: int,
    rep: int,
    mode: str | None = None,
) -> Child:
    """The agent pool process (accepting and resolving through `mode`)."""
    plan = AgentPlan(
        database_url=database.url,
        dsn=database.dsn,
        host=database.host,
        agents=agents,
        out=str(ctx.folder / f"agents-{rep}.json"),
        mode=mode or ctx.options.agents_via,
        api=f"http://127.0.0.1:{http_port}",
    )
    plan_file = ctx.write_plan(f"agents-plan-{rep}", asdict(plan))
    command = [PYTHON, "-m", "bench.agents", str(plan_file)]
    if ctx.options.consumer_nice:
        # The pool stands in for the consoles' work; on this one host it yields to webhook
        # answers like the consumers do (`nice` execs it: same process).
        command = ["nice", "-n", str(ctx.options.consumer_nice), *command]
    return await Child.start(
        "agents",
        command,
        environment(env),
        ctx.folder,
        pipe=True,
    )


async def snapshot(children: list[Child]) -> list[Snapshot]:
    """Each child's router histograms now (in the children's order)."""
    return list(await asyncio.gather(*(scrape(child.metrics_url or "") for child in children)))


def router_metrics(
    children: list[Child], before: list[Snapshot], after: list[Snapshot]
) -> dict[str, Any]:
    """What the phase added to the histograms: `serve` alone, the consumers merged."""
    found: dict[str, Any] = {}
    serving = [i for i, child in enumerate(children) if child.name == "serve"]
    consuming = [i for i, child in enumerate(children) if child.name.startswith("consume")]
    if serving:
        found["serve"] = difference(before[serving[0]], after[serving[0]])
    if consuming:
        found["consumers"] = difference(
            merge([before[i] for i in consuming]), merge([after[i] for i in consuming])
        )
    return found
