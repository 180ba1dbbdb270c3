"""`python -m devstack up`: PostgreSQL and Kafka kept between runs, for the router by hand.

`python -m devstack run -- CMD...`: CMD (the tests) against a throwaway PostgreSQL and Kafka.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.kafka import KafkaBroker, kafka_jars, kafka_version
from devstack.local import DEFAULT_ROOT, KeptKafkaBroker, environment, export_lines
from devstack.postgres import TestPostgres

USAGE = (
    "usage: python -m devstack up [--data DIR] | python -m devstack run -- COMMAND [ARGS...]"
    " | python -m devstack fetch"
)


def _run(command: list[str]) -> int:
    env = dict(os.environ)
    postgres: TestPostgres | None = None
    broker: KafkaBroker | None = None
    try:
        if not env.get("ROUTER_TEST_DATABASE_URL"):
            started = time.monotonic()
            postgres = TestPostgres()
            env["ROUTER_TEST_DATABASE_URL"] = postgres.start()
            print(
                f"devstack: embedded PostgreSQL up in {time.monotonic() - started:.1f} s",
                flush=True,
            )
        if not env.get("ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS"):
            started = time.monotonic()
            jars = kafka_jars()
            broker = KafkaBroker()
            env["ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS"] = broker.start()
            print(
                f"devstack: Apache Kafka {kafka_version(jars)} (KRaft) at "
                f"{broker.bootstrap_servers} up in {time.monotonic() - started:.1f} s",
                flush=True,
            )
        child = subprocess.Popen(command, env=env)
        try:
            return child.wait()
        finally:
            if child.poll() is None:  # we were told to stop: so is the command
                child.terminate()
                child.wait(30)
    except KeyboardInterrupt:
        return 130
    finally:
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()


def _up(root: Path) -> int:
    """Start both servers on the data under `root`, print what to export, wait for Ctrl-C."""
    from adapters.postgres.embedded import EmbeddedPostgres

    root = root.resolve()
    postgres = EmbeddedPostgres(root / "postgres")
    broker: KeptKafkaBroker | None = None
    try:
        started = time.monotonic()
        try:
            database_url = postgres.start()
        except subprocess.TimeoutExpired:
            # pg_ctl is given 10 s to see the server ready, which a loaded machine can miss
            # while the server comes up all the same: attach to it (or start it) again.
            database_url = postgres.start()
        print(f"devstack: PostgreSQL up in {time.monotonic() - started:.1f} s", flush=True)
        started = time.monotonic()
        jars = kafka_jars()
        broker = KeptKafkaBroker(root / "kafka")
        broker.start(timeout=120)
        print(
            f"devstack: Apache Kafka {kafka_version(jars)} (KRaft) up in "
            f"{time.monotonic() - started:.1f} s",
            flush=True,
        )
        lines = export_lines(environment(database_url, broker.bootstrap_servers))
        (root / "env").write_text(lines)
        print(
            f"devstack: data in {root} (kept between runs). In another shell:\n\n{lines}"
            f"\n(or: . {root / 'env'}), then: router migrate && router serve\n"
            "devstack: Ctrl-C stops both",
            flush=True,
        )
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(1)
        print(f"devstack: Kafka exited; its log:\n{broker.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("devstack: stopping", flush=True)
        return 0
    finally:
        if broker is not None:
            broker.stop()
        postgres.stop()


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # Turn SIGTERM (a CI timeout, say) into an exception so the servers are stopped.
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if len(argv) >= 2 and argv[0] == "run" and argv[1] == "--" and len(argv) > 2:
        return _run(argv[2:])
    if argv == ["fetch"]:
        print(kafka_jars())
        return 0
    if argv == ["up"]:
        return _up(DEFAULT_ROOT)
    if len(argv) == 3 and argv[:2] == ["up", "--data"]:
        return _up(Path(argv[2]))
    if argv in (["-h"], ["--help"], ["help"]):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
