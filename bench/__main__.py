"""`python -m bench [--quick] [--routing-only] ...`: measure, compare to the ceilings, report.

Each repetition runs, in this order (so slow drift of the machine touches every phase):
ceiling (a) bare FastAPI, ceiling (a) bare ASGI, ceiling (b) pipeline, the service at a fixed
rate then at maximum rate, routing-only. A short unmeasured pass of the service and
routing-only comes first (`--no-warm-up` skips it). The results (every repetition, the medians with
their spread, the ratios, the machine) go to `bench/results/<UTC timestamp>.json`, the chart
of the median repetition beside it as `.png`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.context import Interrupted, Options, RunContext
from bench.stack import Stack, scheduler_autogroups


def parse(argv: Sequence[str]) -> Options:
    """The options of a run from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short repetition (smoke run)")
    parser.add_argument(
        "--routing-only",
        action="store_true",
        help="only ceiling (b) and consumers draining a pre-filled inbound topic",
    )
    parser.add_argument("--repetitions", type=int, help="repetitions (default 3; quick 1)")
    parser.add_argument("--rate", type=float, help="fixed webhook rate per second (500)")
    parser.add_argument("--duration", type=float, help="seconds at the fixed rate (15)")
    parser.add_argument("--max-duration", type=float, help="seconds at maximum rate (15)")
    parser.add_argument(
        "--records", type=int, help="envelopes for ceiling (b) and routing-only (40000)"
    )
    parser.add_argument(
        "--follow-ups",
        type=float,
        help="share of messages that continue a recent conversation rather than open one (0.25)",
    )
    parser.add_argument("--consumers", type=int, help="`router consume` processes (2)")
    parser.add_argument("--agents", type=int, help="agents in the pool (40)")
    parser.add_argument(
        "--agents-via",
        choices=["service", "api"],
        help="agents act through the service functions (default) or the /v1 API",
    )
    parser.add_argument(
        "--routing-team",
        choices=["online", "working"],
        help="routing-only: the agents are online with free slots and do nothing (default, so"
        " the drain times routing alone), or they accept and resolve as in the service phases",
    )
    parser.add_argument("--concurrency", type=int, help="connections at maximum rate (32)")
    parser.add_argument("--output", type=Path, help="folder of the results (bench/results)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample serve and consume with py-spy in the first repetition (results/<run>-profile)",
    )
    parser.add_argument(
        "--consumer-nice",
        type=int,
        help="niceness of `router consume` and the agent pool (default 10, as a shared host"
        " would run them: webhook answers get the CPU first; 0 for none)",
    )
    parser.add_argument(
        "--no-warm-up",
        action="store_true",
        help="skip the short unmeasured pass that warms the broker, database and processes",
    )
    parser.add_argument(
        "--src",
        type=Path,
        help="run the router from this source tree (a patched copy) to measure a change first",
    )
    args = parser.parse_args(argv)
    if args.consumers is not None and args.consumers < 1:
        parser.error("--consumers: at least one `router consume` process routes the messages")
    if args.follow_ups is not None and not 0 <= args.follow_ups <= 1:
        parser.error("--follow-ups: a share, from 0 to 1")
    options = Options.quick_run() if args.quick else Options()
    overrides = {
        name: value
        for name, value in {
            "routing_only": args.routing_only or None,
            "repetitions": args.repetitions,
            "rate": args.rate,
            "duration": args.duration,
            "max_duration": args.max_duration,
            "records": args.records,
            "follow_ups": args.follow_ups,
            "consumers": args.consumers,
            "agents": args.agents,
            "agents_via": args.agents_via,
            "routing_team": args.routing_team,
            "concurrency": args.concurrency,
            "output": args.output,
            "chart": False if args.no_chart else None,
            "keep_logs": args.keep_logs or None,
            "profile": args.profile or None,
            "src": args.src,
            "consumer_nice": args.consumer_nice,
            "warm_up": False if args.no_warm_up else None,
        }.items()
        if value is not None
    }
    return replace(options, **overrides)


def _line(name: str, phase: dict[str, Any]) -> str:
    """One line per finished phase, for the log."""
    if "drain_rate" in phase:
        return (
            f"{name}: produce {phase['produce_rate']:,.0f}/s, drain {phase['drain_rate']:,.0f}"
            " records/s"
        )
    if "records_per_s" in phase:
        return (
            f"{name}: {phase['records_per_s']:,.0f} records/s ({phase['messages_per_s']:,.0f} "
            f"messages/s), start-up {phase['startup_seconds']} s"
        )
    text = (
        f"{name}: {phase['accepted_per_s']:,.0f} webhooks/s accepted, p50 "
        f"{phase['latency_ms']['p50']} ms, p99 {phase['latency_ms']['p99']} ms, load generator "
        f"{phase['loadgen']['cpu_cores']:.2f} cores"
    )
    if "messages_routed_per_s" in phase:
        text += f"; routed {phase['messages_routed_per_s']:,.0f} messages/s"
    if "assignment" in phase:
        offer = phase["assignment"]["to_offer_ms"]
        text += f"; event->offer p50 {offer['p50']} ms, p99 {offer['p99']} ms"
    return text


async def repetition(ctx: RunContext, rep: int) -> dict[str, Any]:
    """One pass over every phase of the run."""
    from bench.http_phases import http_ceiling, service
    from bench.routing_phases import pipeline_ceiling, routing_only

    found: dict[str, Any] = {"repetition": rep}
    say = ctx.progress.say
    if not ctx.options.routing_only:
        for kind in ("fastapi", "asgi"):
            ctx.check()
            found[f"ceiling_{kind}"] = await http_ceiling(ctx, kind, rep)
            say(_line(f"rep {rep} ceiling (a) bare {kind}", found[f"ceiling_{kind}"]))
    ctx.check()
    found["ceiling_pipeline"] = await pipeline_ceiling(ctx, rep)
    say(_line(f"rep {rep} ceiling (b) pipeline", found["ceiling_pipeline"]))
    if not ctx.options.routing_only:
        ctx.check()
        found["service"] = await service(ctx, rep)
        say(_line(f"rep {rep} service @{ctx.options.rate:g}/s", found["service"]["rate"]))
        say(_line(f"rep {rep} service max", found["service"]["max"]))
    ctx.check()
    found["routing_only"] = await routing_only(ctx, rep)
    say(_line(f"rep {rep} routing-only", found["routing_only"]))
    return found


async def warm_up(ctx: RunContext) -> None:
    """One short pass that is not measured, before the first repetition.

    A fresh broker compiles its request paths while the first phases run (its JIT compiler
    took up to half a core at 500 webhooks/s, and the broker used 0.41 cores there in the
    first repetition against 0.2 in the next ones), and the first processes fill
    PostgreSQL's and the OS's caches: without this the first repetition measured the
    start-up of the stack.
    """
    from bench.http_phases import service
    from bench.routing_phases import routing_only

    options = ctx.options
    ctx.progress.say("warm-up pass (not measured)")
    ctx.options = replace(options, duration=10.0, max_duration=5.0, profile=False)
    try:
        if not options.routing_only:
            await service(ctx, 0)
        await routing_only(ctx, 0)
    finally:
        ctx.options = options


def _median_repetition(repetitions: list[dict[str, Any]], routing: bool) -> dict[str, Any]:
    def key(rep: dict[str, Any]) -> float:
        if routing:
            return float(rep["routing_only"]["records_per_s"])
        return float(rep["service"]["max"]["accepted_per_s"])

    ordered = sorted(repetitions, key=key)
    return ordered[(len(ordered) - 1) // 2]


async def run(options: Options) -> int:
    """The whole run; writes the results and prints the summary."""
    from bench import report
    from bench.chart import draw
    from bench.profile import Profiles
    from bench.routing_phases import prepare_records

    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    folder = Path(tempfile.mkdtemp(prefix="router-bench-"))
    stack = await asyncio.to_thread(Stack.start, print)
    ctx = RunContext(options, stack, folder)
    main_task = asyncio.current_task()

    def interrupt() -> None:
        ctx.interrupted.set()
        if main_task is not None:
            main_task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, interrupt)
    if options.profile:
        ctx.profiles = Profiles(options.output / f"{stamp}-profile")
        if not ctx.profiles.enabled:
            ctx.progress.say("py-spy is not installed: running without --profile")
    ok = False
    autogroups = scheduler_autogroups()
    try:
        # Niceness ranks the routing side below the webhook answers; with autogroups it would
        # rank processes only within their own session.
        if autogroups and options.consumer_nice and scheduler_autogroups(False) is not False:
            ctx.progress.say(
                "could not switch the scheduler's autogroups off (needs root): niceness "
                "ranks processes only within their own session"
            )
        ctx.progress.say(f"logs and plans in {folder}")
        await stack.prepare_template()
        ctx.watch_stack()
        ctx.monitor.start()
        await asyncio.to_thread(prepare_records, ctx)
        if options.warm_up:
            await warm_up(ctx)
        repetitions = []
        for rep in range(1, options.repetitions + 1):
            ctx.check()
            repetitions.append(await repetition(ctx, rep))
        summary = report.summarise(repetitions)
        table = report.process_table(repetitions)
        goals = report.targets(summary, options.rate) if not options.routing_only else {}
        await ctx.profiles.collect()
        options.output.mkdir(parents=True, exist_ok=True)
        result_path = options.output / f"{stamp}.json"
        chart_path = options.output / f"{stamp}.png"
        document = {
            "started_at": started_at.isoformat(),
            "seconds": round(time.monotonic() - ctx.progress.started, 1),
            "options": {**asdict(options), "output": str(options.output), "src": str(options.src)},
            "machine": {
                **report.machine(),
                "kafka": stack.kafka_version,
                "postgres": await stack.server_version(),
                "scheduler_autogroups": {"before": autogroups, "during": scheduler_autogroups()},
            },
            "summary": summary,
            "processes": table,
            "targets": goals,
            "profiles": ctx.profiles.summaries,
            "repetitions": repetitions,
        }
        result_path.write_text(json.dumps(document, indent=1, default=str))
        drew = options.chart and draw(
            _median_repetition(repetitions, options.routing_only),
            chart_path,
            f"conversation router bench {stamp} (median repetition)",
        )
        ctx.progress.say("done\n")
        print(report.printout(summary, table, goals))
        print(f"\nresults: {result_path}" + (f"\nchart:   {chart_path}" if drew else ""))
        ok = True
        return 0
    finally:
        if autogroups:
            scheduler_autogroups(True)  # as it was
        await ctx.monitor.stop()
        await asyncio.to_thread(stack.stop)
        if not ok:
            print(f"the run failed; logs kept in {folder}", file=sys.stderr)
        elif options.keep_logs:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the bench."""
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.src is not None:
        from bench.processes import use_source

        use_source(options.src)
    # aiokafka logs (and retries) a produce refused while a new partition elects its leader.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    try:
        return asyncio.run(run(options))
    except (KeyboardInterrupt, asyncio.CancelledError, Interrupted):
        print("\ninterrupted: the processes were stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
