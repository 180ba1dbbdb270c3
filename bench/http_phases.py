"""Ceiling (a), the bare HTTP servers, and the service driven over HTTP by the load generator."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from bench.agents import seed_agents
from bench.context import RunContext, read_json
from bench.load import LoadPlan
from bench.measure import RoutedCounter, assignment_latency, http_metrics
from bench.processes import ROUTER, Child, environment, stop_all, wait_listening, wait_ready
from bench.service import last_json, router_metrics, snapshot, start_agents, start_consumers
from bench.stats import per_second
from devstack.net import free_port

PYTHON = sys.executable


async def run_load(
    ctx: RunContext,
    label: str,
    plan: LoadPlan,
    status: Any = None,
) -> dict[str, Any]:
    """Run the load generator on `plan` (its own process) and read its results."""
    plan_file = ctx.write_plan(label, asdict(plan))
    child = await Child.start(
        "loadgen",
        [PYTHON, "-m", "bench.load", str(plan_file)],
        environment({}),
        ctx.folder,
        pipe=True,
    )
    ctx.monitor.watch("loadgen", child.pid)
    try:
        while child.alive():
            await asyncio.sleep(0.5)
            ctx.check()
            state = last_json(child.output)
            shown = f"{label}: {state.get('t', 0):.0f}/{plan.warmup + plan.duration:.0f} s"
            shown += f", answered {state.get('done', 0)}, in flight {state.get('in_flight', 0)}"
            if status is not None:
                shown += status()
            ctx.progress.update(shown)
    except BaseException:
        await child.stop(grace=5)
        raise
    if await child.wait() != 0:
        raise RuntimeError(f"the load generator failed:\n{child.tail()}")
    result: dict[str, Any] = await asyncio.to_thread(read_json, plan.out)
    return result


async def http_ceiling(ctx: RunContext, kind: str, rep: int) -> dict[str, Any]:
    """Ceiling (a): a bare FastAPI app or ASGI callable under `router serve`'s uvicorn."""
    port = free_port()
    server = await Child.start(
        f"bare-{kind}",
        [PYTHON, "-m", "bench.ceilings", "serve", kind, str(port)],
        environment({}),
        ctx.folder,
    )
    try:
        await wait_listening(server, port)
        ctx.monitor.watch("server", server.pid)
        plan = LoadPlan(
            host="127.0.0.1",
            port=port,
            out=str(ctx.folder / f"load-bare-{kind}-{rep}.json"),
            mode="max",
            duration=ctx.options.ceiling_duration,
            concurrency=ctx.options.concurrency,
            prepared=5_000,
            recycle=True,
            seed=ctx.options.seed + rep,
            tag=ctx.tag,
        )
        result = await run_load(ctx, f"rep {rep} ceiling (a) bare {kind}", plan)
    finally:
        await server.stop()
    wall = result["clock_offset"]
    metrics = http_metrics(result)
    metrics["processes"] = ctx.monitor.summary(result["measure_from"] + wall, result["end"] + wall)
    return metrics


async def service(ctx: RunContext, rep: int) -> dict[str, Any]:
    """The service over HTTP: a fixed rate, then the maximum, with agents working."""
    options = ctx.options
    name = f"bench_r{rep}_service"
    database = await ctx.stack.fresh_database(name)
    agents = await seed_agents(database, options.agents, api_keys=options.agents_via == "api")
    topics = ctx.topics(f"r{rep}-service")
    http_port = free_port()
    env = ctx.router_env(database, topics, ROUTER_HTTP_PORT=str(http_port))
    children: list[Child] = []
    counter = RoutedCounter(database)
    reniced = False
    try:
        serve = await Child.start("serve", [ROUTER, "serve"], environment(env), ctx.folder)
        serve.metrics_url = f"http://127.0.0.1:{http_port}/metrics"
        children.append(serve)
        await wait_ready(serve, f"http://127.0.0.1:{http_port}/readyz")
        consumers = await start_consumers(ctx, env, children)
        pool = await start_agents(ctx, database, agents, env, http_port, rep)
        children.append(pool)
        # PostgreSQL works for the consumers and the pool alone (`serve` only publishes):
        # it yields to webhook answers as they do. Back to normal for the other phases.
        reniced = bool(options.consumer_nice) and ctx.stack.set_postgres_niceness(
            options.consumer_nice
        )
        _watch(ctx, serve, consumers, pool)
        await counter.start()

        def status() -> str:
            return f"; routed {counter.routed}, waiting for an agent {counter.waiting}"

        measured = [serve, *consumers]
        await _warm_up(ctx, rep, http_port)
        rate = await _phase(ctx, counter, rep, "rate", http_port, status, measured)
        peak = await _phase(ctx, counter, rep, "max", http_port, status, measured)
        await pool.stop()
        children.remove(pool)
        observed: dict[str, float] = json.loads((ctx.folder / f"agents-{rep}.json").read_text())[
            "observed"
        ]
        for phase in (rate, peak):
            opens = phase.pop("_opens")
            found = await assignment_latency(database, opens, observed)
            sent, offered_ms = found.pop("_sent"), found.pop("_offered_ms")
            phase["assignment"] = found
            start, end = phase.pop("_window")
            phase["timeline"]["assignment"] = per_second(sent, start, end, offered_ms)
        return {"rate": rate, "max": peak, "agents": last_json(pool.output)}
    finally:
        if reniced and not ctx.stack.set_postgres_niceness(0):
            ctx.progress.say("could not give PostgreSQL its normal priority back")
        await counter.stop()
        await stop_all(children)
        await ctx.stack.drop_database(name)


def _watch(ctx: RunContext, serve: Child, consumers: list[Child], pool: Child) -> None:
    ctx.monitor.watch("serve", serve.pid)
    for child in consumers:
        ctx.monitor.watch(child.name, child.pid)
    ctx.monitor.watch("agents", pool.pid)


async def _warm_up(ctx: RunContext, rep: int, port: int) -> None:
    """A few seconds of light traffic first: connections, producer metadata, code paths warm."""
    plan = LoadPlan(
        host="127.0.0.1",
        port=port,
        out=str(ctx.folder / f"load-service-warm-up-{rep}.json"),
        mode="rate",
        duration=3.0,
        warmup=0.0,
        rate=min(100.0, ctx.options.rate),
        prepared=400,
        seed=ctx.options.seed * 10 + rep * 3,
        tag=f"{ctx.tag}{rep}w",
        secrets=asdict(ctx.secrets),
    )
    await run_load(ctx, f"rep {rep} service warm-up", plan)


async def _phase(
    ctx: RunContext,
    counter: RoutedCounter,
    rep: int,
    mode: str,
    port: int,
    status: Any,
    measured: list[Child],
) -> dict[str, Any]:
    options = ctx.options
    histograms = await snapshot(measured)
    before = counter.routed
    duration = options.duration if mode == "rate" else options.max_duration
    expected_rate = options.rate if mode == "rate" else 2_500
    plan = LoadPlan(
        host="127.0.0.1",
        port=port,
        out=str(ctx.folder / f"load-service-{mode}-{rep}.json"),
        mode=mode,
        duration=duration,
        warmup=2.0,
        rate=options.rate,
        concurrency=options.concurrency,
        prepared=int(expected_rate * (duration + 2.0)),
        seed=ctx.options.seed * 10 + rep * 2 + (mode == "max"),
        tag=f"{ctx.tag}{rep}{mode[0]}",
        secrets=asdict(ctx.secrets),
        follow_ups=options.follow_ups,
    )
    label = f"rep {rep} service @{options.rate:g}/s" if mode == "rate" else f"rep {rep} service max"
    if rep == 1:
        for child in measured[:2]:
            await ctx.profiles.start(f"{child.name}-{mode}-load", child.pid, plan.warmup + duration)
    result = await run_load(ctx, label, plan, status)
    wall = result["clock_offset"]
    start, end = result["measure_from"] + wall, result["end"] + wall
    metrics = http_metrics(result)
    expected = before + result["messages_accepted"]

    def waiting() -> None:
        ctx.check()
        ctx.progress.update(f"{label}: routing the backlog" + status())

    caught_up = await counter.wait_for(
        expected, within=20.0 if options.quick else 45.0, on_tick=waiting
    )
    metrics["router_metrics"] = router_metrics(measured, histograms, await snapshot(measured))
    metrics["messages_routed_per_s"] = round(
        (counter.at(end) - counter.at(start)) / (end - start), 1
    )
    metrics["backlog_at_end"] = max(0, expected - counter.at(end))
    metrics["drained_after_s"] = (
        round(caught_up - (result["finished"] + wall), 2) if caught_up else None
    )
    metrics["processes"] = ctx.monitor.summary(start, end)
    metrics["database_sessions"] = counter.sessions(start, end)
    metrics["timeline"]["routed"] = counter.timeline(result["start"] + wall, time.time())
    metrics["timeline"]["cpu"] = ctx.monitor.series(result["start"] + wall, time.time())
    metrics["_opens"] = result["opens"]
    metrics["_window"] = (result["start"] + wall, time.time())
    return metrics
