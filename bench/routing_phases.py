"""Ceiling (b), the bare pipeline, and the routing-only mode: consumers draining a full topic."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import asdict
from typing import Any

from bench.agents import seed_agents
from bench.ceilings import PipelinePlan, create_topic, produce, read_records, write_records
from bench.context import RunContext
from bench.envelopes import records
from bench.measure import GroupOffsets, RoutedCounter
from bench.processes import Child, environment, stop_all
from bench.service import last_json, router_metrics, snapshot, start_agents, start_consumers

PYTHON = sys.executable


def prepare_records(ctx: RunContext) -> None:
    """Build the run's envelopes once (the same for every repetition and both measurements)."""
    started = time.monotonic()
    options = ctx.options
    found = records(options.records, seed=options.seed, tag=ctx.tag, follow_ups=options.follow_ups)
    path = ctx.folder / "envelopes.bin"
    write_records(path, [(record.key, record.value) for record in found])
    ctx.records_file = path
    ctx.records_count = len(found)
    ctx.records_messages = sum(record.is_message for record in found)
    # Every thread of the mix has a customer of its own: a thread's key is a conversation.
    ctx.records_conversations = len({record.key for record in found if record.is_message})
    size = sum(len(record.value) for record in found) / len(found)
    ctx.progress.say(
        f"built {len(found)} envelopes ({ctx.records_messages} messages in "
        f"{ctx.records_conversations} conversations, "
        f"{size:.0f} bytes on average) in {time.monotonic() - started:.1f} s"
    )


async def pipeline_ceiling(ctx: RunContext, rep: int) -> dict[str, Any]:
    """Ceiling (b): produce, then consume + insert + commit, with no service code."""
    assert ctx.records_file is not None
    name = f"bench_r{rep}_pipeline"
    database = await ctx.stack.fresh_database(name)
    topics = ctx.topics(f"r{rep}-pipeline")
    plan = PipelinePlan(
        bootstrap=ctx.stack.kafka,
        database=database.dsn,
        database_host=database.host,
        topic=topics.inbound,
        group=topics.group,
        partitions=12,
        records=str(ctx.records_file),
    )
    plan_file = ctx.write_plan(f"pipeline-{rep}", asdict(plan))
    child = await Child.start(
        "pipeline",
        [PYTHON, "-m", "bench.ceilings", "pipeline", str(plan_file)],
        environment({}),
        ctx.folder,
        pipe=True,
    )
    ctx.monitor.watch("pipeline", child.pid)
    started = time.time()
    try:
        while child.alive():
            await asyncio.sleep(0.5)
            ctx.check()
            ctx.progress.update(
                f"rep {rep} ceiling (b) pipeline: {plan.copies} x {ctx.records_count} envelopes, "
                f"{time.time() - started:.0f} s"
            )
        if await child.wait() != 0:
            raise RuntimeError(f"the pipeline ceiling failed:\n{child.tail()}")
    finally:
        if child.alive():
            await child.stop(grace=5)
        await ctx.stack.drop_database(name)
    result = last_json(child.output)
    result["processes"] = ctx.monitor.summary(
        result.get("drain_from", started), result.get("drain_to", time.time())
    )
    return result


async def routing_only(ctx: RunContext, rep: int) -> dict[str, Any]:
    """Fill the inbound topic first, then time `router consume` draining it.

    The agents are online with free slots, so every decision judges the whole team and offers
    go out until their slots are full; by default nobody accepts or resolves, so the drain
    times routing alone (`--routing-team working` adds the team's transactions).
    """
    assert ctx.records_file is not None
    options = ctx.options
    name = f"bench_r{rep}_routing"
    database = await ctx.stack.fresh_database(name)
    agents = await seed_agents(database, options.agents, api_keys=False)
    topics = ctx.topics(f"r{rep}-routing")
    env = ctx.router_env(database, topics)
    pairs = await asyncio.to_thread(read_records, ctx.records_file)
    await create_topic(ctx.stack.kafka, topics.inbound, 12)
    ctx.progress.update(f"rep {rep} routing-only: filling {topics.inbound}")
    fill_seconds = await produce(ctx.stack.kafka, topics.inbound, pairs)
    children: list[Child] = []
    counter = RoutedCounter(database)
    offsets = GroupOffsets(ctx.stack.kafka, topics.group, topics.inbound)
    await offsets.start()
    await counter.start()
    samples: list[tuple[float, int]] = []

    async def watch_offsets() -> None:
        # From before the consumers start: the first member may apply polls while the
        # group is still settling.
        while True:
            # A failed read (no group coordinator yet on a fresh broker) is asked again next
            # round: a watcher that died would read nothing committed for ever.
            with contextlib.suppress(Exception):
                samples.append((time.time(), await offsets.committed()))
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch_offsets())
    try:
        started = time.time()
        if options.routing_team == "working":
            pool = await start_agents(ctx, database, agents, env, 0, rep, mode="service")
            children.append(pool)
            ctx.monitor.watch("agents", pool.pid)
        consumers = await start_consumers(ctx, env, children)
        for child in consumers:
            ctx.monitor.watch(child.name, child.pid)
        ready = time.time()
        histograms = await snapshot(consumers)
        if rep == 1:
            seconds = min(30.0, max(5.0, len(pairs) / 400))
            await ctx.profiles.start(f"{consumers[0].name}-routing-only", consumers[0].pid, seconds)
        done, committed = 0.0, 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            committed = samples[-1][1] if samples else 0
            if committed >= len(pairs):
                done = samples[-1][0]
                break
            ctx.check()
            ctx.progress.update(
                f"rep {rep} routing-only: {committed}/{len(pairs)} records applied, "
                f"{counter.routed} messages stored, {counter.waiting} waiting for an agent"
            )
            await asyncio.sleep(0.1)
        if not done:
            raise RuntimeError(f"the consumers did not drain the topic ({committed} applied)")
        # The steady rate: from the first offset commit to the last, so process start-up and
        # the group join (reported apart) do not count. Offsets move a whole poll (up to
        # ROUTER_CONSUMER_MAX_BATCH records per member) at a time, so when the first commit
        # already holds much of a small run, the rate is taken from the last moment nothing
        # was committed instead (which includes applying that first poll).
        idle_until = max((t for t, n in samples if n == 0), default=started)
        first, first_count = next((t, n) for t, n in samples if n > 0)
        low = first
        if len(pairs) - first_count < 0.5 * len(pairs):
            low, first_count = idle_until, 0
        high = done
        rate = (len(pairs) - first_count) / max(0.1, high - low)
        drain = done - started
        measured = router_metrics(consumers, histograms, await snapshot(consumers))
        return {
            "records": len(pairs),
            "messages": ctx.records_messages,
            "conversations": ctx.records_conversations,
            "team": options.routing_team,
            "fill_seconds": round(fill_seconds, 2),
            "startup_seconds": round(ready - started, 2),
            "first_commit_after_start_s": round(first - started, 2),
            "drain_seconds": round(drain, 2),
            "records_per_s": round(rate, 1),
            "messages_per_s": round(rate * ctx.records_messages / len(pairs), 1),
            "records_per_s_whole_drain": round(len(pairs) / drain, 1),
            "processes": ctx.monitor.summary(low, high),
            "database_sessions": counter.sessions(low, high),
            "router_metrics": measured,
            "timeline": {
                "routed": counter.timeline(started, done),
                "cpu": ctx.monitor.series(started, done),
            },
        }
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await counter.stop()
        await offsets.close()
        await stop_all(children)
        await ctx.stack.drop_database(name)
