"""`python -m devstack run -- CMD...`: CMD runs against a real PostgreSQL and Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from devstack.kafka import KafkaBroker, kafka_jars, kafka_version
from devstack.postgres import TestPostgres


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
    print(
        "usage: python -m devstack run -- COMMAND [ARGS...] | python -m devstack fetch",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
