"""`python -m chaos`: the router's promises checked under faults, by SQL over the history.

Three Kafka brokers, PostgreSQL, `router serve` and two `router consume` run as real
processes; signed webhooks arrive at a steady rate while a team of agents works the console
API and faults strike at random times. Once the load stops and the run settles, the
history is checked. Exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path

from bench.payloads import Secrets

from chaos.checks import no_internal_errors
from chaos.faults import FaultPlan, FaultRunner, plan_faults
from chaos.history import consumer_lag, dead_letters, history_findings, stranded
from chaos.report import answer_table, as_json, check_table, fault_table
from chaos.stack import DLQ_TOPIC, GROUP, INBOUND_TOPIC, Stack
from chaos.team import Team, hire
from chaos.webhooks import WebhookLoad


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--duration", type=float, default=240.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks a second")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: new)")
    parser.add_argument("--agents", type=int, default=12, help="agents in the team")
    parser.add_argument(
        "--follow-ups",
        type=float,
        default=0.75,
        help="share of messages continuing a recent thread (0.75: about 4 per conversation)",
    )
    parser.add_argument("--consumer-kills", type=int, default=10)
    parser.add_argument("--offer-timeout", type=float, default=8.0, help="seconds to accept")
    parser.add_argument(
        "--exclusion", type=float, default=10.0, help="seconds an agent is left out of an offer"
    )
    parser.add_argument(
        "--settle", type=float, default=150.0, help="longest wait for the run to settle (s)"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("var/chaos"), help="folder for logs and results"
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=None,
        help="run the router from this source folder (holding router/, with migrations/ beside it)",
    )
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


async def settle(stack: Stack, team: Team, limit: float) -> None:
    """Let the team clear the backlog until nothing moves: no lag, no change for a while.

    Bounded by `limit`; at least long enough for offers to lapse and the sweeps to run.
    """
    assert stack.database is not None
    team.settling = True
    started = time.monotonic()
    minimum = stack.offer_timeout + stack.exclusion + 5 * stack.sweep_interval + 5
    connection = await stack.database.connect()
    last: tuple[int, ...] = ()
    still = 0.0
    try:
        while time.monotonic() - started < limit:
            await asyncio.sleep(2.0)
            try:
                lag = await consumer_lag(stack.cluster.bootstrap_servers, INBOUND_TOPIC, GROUP)
            except Exception:  # the group's coordinator moving: ask again next round
                lag = -1
            row = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE status = 'open' AND agent_id IS NULL) AS waiting,"
                " count(*) FILTER (WHERE status = 'open') AS open,"
                " (SELECT count(*) FROM conversation_events) AS events FROM conversations"
            )
            state = (lag, row["waiting"], row["open"], row["events"])
            say(f"settling: lag {lag}, open {row['open']}, waiting {row['waiting']}")
            still = still + 2.0 if state == last else 0.0
            last = state
            quiet = lag == 0 and (row["waiting"] == 0 or still >= 10.0)
            if quiet and time.monotonic() - started >= minimum:
                return
    finally:
        await connection.close()


async def run(options: argparse.Namespace) -> int:
    seed = options.seed if options.seed is not None else random.randrange(1_000_000)
    folder = options.output / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    say(f"chaos run, seed {seed}: {options.rate:g} webhooks/s for {options.duration:g} s; {folder}")
    rng = random.Random(seed)
    secrets = Secrets.generate(random.Random(seed))
    stack = Stack(
        folder,
        secrets,
        offer_timeout=options.offer_timeout,
        sweep_interval=1.0,
        exclusion=options.exclusion,
    )
    faults = plan_faults(rng, options.duration, FaultPlan(consumer_kills=options.consumer_kills))
    try:
        await stack.start(say)
        seats = await hire(stack, options.agents)
        team = Team(stack.api, seats, seed)
        load = WebhookLoad(
            secrets,
            stack.http_port,
            rate=options.rate,
            duration=options.duration,
            seed=seed,
            follow_ups=options.follow_ups,
        )
        runner = FaultRunner(stack, faults, say)
        working = asyncio.get_running_loop().create_task(team.run())
        started = time.monotonic()
        say(f"team of {len(seats)} at work; load and faults start")

        async def progress() -> None:
            while True:
                await asyncio.sleep(10)
                elapsed = time.monotonic() - started
                say(f"{elapsed:.0f} s: {load.progress()}; team {dict(team.counts)}")

        loop = asyncio.get_running_loop()
        ticker = loop.create_task(progress())
        keeper = loop.create_task(runner.keep_consumers(started, team.stop))
        await asyncio.gather(load.run(started), runner.run(started))
        ticker.cancel()
        say("load stopped; settling")
        await settle(stack, team, options.settle)
        team.stop.set()
        await asyncio.gather(working, keeper)
        assert stack.database is not None
        connection = await stack.database.connect()
        try:
            findings = await history_findings(connection, load.answers())
            findings.append(await stranded(connection, apart=3 * stack.sweep_interval + 3))
        finally:
            await connection.close()
        findings.append(await dead_letters(stack.cluster.bootstrap_servers, DLQ_TOPIC))
        (folder / "webhooks.json").write_text(json.dumps(load.record()))
        counts = load.status_counts()
        findings.append(no_internal_errors(counts))
        lines = [
            *fault_table(faults),
            *answer_table(counts, len(load.sent), team.counts),
            *check_table(findings),
        ]
        print("\n".join(lines), flush=True)
        (folder / "result.json").write_text(
            json.dumps(as_json(faults, counts, team.counts, findings), indent=2)
        )
        return 1 if any(finding.violations for finding in findings) else 0
    finally:
        say("stopping")
        await stack.stop()


def main(argv: list[str]) -> int:
    # The embedded PostgreSQL's lock file falls back to /tmp without a runtime folder: fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    options = parse(argv)
    if options.src is not None:
        from bench.processes import use_source

        use_source(options.src)
    loop = asyncio.new_event_loop()
    main_task = loop.create_task(run(options))
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so every process is stopped.
    with contextlib.suppress(NotImplementedError):
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, main_task.cancel)
    try:
        return loop.run_until_complete(main_task)
    except (KeyboardInterrupt, asyncio.CancelledError):
        traceback.print_exc()
        return 130
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
