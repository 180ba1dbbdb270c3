"""What every phase of a run shares: options, the stack, the monitor, progress, settings."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.monitor import Monitor
from bench.payloads import FOLLOW_UP_SHARE, Secrets
from bench.profile import Profiles
from bench.stack import Database, Stack


class Interrupted(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM): phases stop their processes and unwind."""


def read_json(path: Path | str) -> Any:
    """A JSON file another process wrote."""
    return json.loads(Path(path).read_text())


@dataclass
class Options:
    """The knobs of a run (`python -m bench --help`)."""

    quick: bool = False
    routing_only: bool = False
    repetitions: int = 3
    rate: float = 500.0
    duration: float = 15.0
    max_duration: float = 15.0
    ceiling_duration: float = 8.0
    concurrency: int = 32
    records: int = 40_000
    consumers: int = 2
    agents: int = 40
    agents_via: str = "service"
    # Routing-only: "online" agents only hold slots (the drain times routing alone); a
    # "working" team accepts and resolves, its transactions sharing PostgreSQL with routing.
    routing_team: str = "online"
    output: Path = Path("bench/results")
    chart: bool = True
    keep_logs: bool = False
    profile: bool = False
    src: Path | None = None
    consumer_nice: int = 10
    warm_up: bool = True
    seed: int = 20_261_122
    # Share of message webhooks that continue a recent thread rather than open a new one.
    follow_ups: float = FOLLOW_UP_SHARE

    @classmethod
    def quick_run(cls, **overrides: Any) -> Options:
        """A smoke run: one repetition of short phases (under two minutes)."""
        return cls(
            quick=True,
            repetitions=1,
            duration=6.0,
            max_duration=6.0,
            ceiling_duration=4.0,
            records=2_500,
            **overrides,
        )


class Progress:
    """One status line, rewritten in place on a terminal, printed every few seconds otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stdout.isatty()
        self._last = 0.0
        self._width = 0
        self.started = time.monotonic()

    def _stamp(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        return f"[{elapsed // 60:02d}:{elapsed % 60:02d}]"

    def update(self, text: str) -> None:
        """Show the current state of the phase."""
        line = f"{self._stamp()} {text}"
        if self._tty:
            padding = " " * max(0, self._width - len(line))
            sys.stdout.write(f"\r{line}{padding}")
            sys.stdout.flush()
            self._width = len(line)
        elif time.monotonic() - self._last >= 5:
            print(line, flush=True)
            self._last = time.monotonic()

    def say(self, text: str) -> None:
        """A line that stays."""
        if self._tty and self._width:
            sys.stdout.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(f"{self._stamp()} {text}", flush=True)


@dataclass
class Topics:
    """A phase's own topics and consumer group."""

    inbound: str
    events: str
    dlq: str
    group: str


@dataclass
class RunContext:
    """The running bench: options, stack, monitor, secrets, a folder for logs and plans."""

    options: Options
    stack: Stack
    folder: Path
    monitor: Monitor = field(default_factory=Monitor)
    progress: Progress = field(default_factory=Progress)
    secrets: Secrets = field(default_factory=lambda: Secrets.generate(random.Random()))
    tag: str = field(default_factory=lambda: f"{random.getrandbits(24):06x}")
    profiles: Profiles = field(default_factory=lambda: Profiles(None))
    records_file: Path | None = None
    records_messages: int = 0
    records_conversations: int = 0
    records_count: int = 0
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        """Raise `Interrupted` once a stop was asked for (checked wherever a phase waits)."""
        if self.interrupted.is_set():
            raise Interrupted

    def topics(self, phase: str) -> Topics:
        base = f"bench.{self.tag}.{phase}"
        group = f"bench-{self.tag}-{phase}"
        return Topics(f"{base}.inbound", f"{base}.events", f"{base}.dlq", group)

    def router_env(self, database: Database, topics: Topics, **extra: str) -> dict[str, str]:
        """The `ROUTER_*` settings of the service processes of a phase."""
        env = {
            "ROUTER_DATABASE_URL": database.url,
            "ROUTER_KAFKA_BOOTSTRAP_SERVERS": self.stack.kafka,
            "ROUTER_TOPIC_INBOUND": topics.inbound,
            "ROUTER_TOPIC_EVENTS": topics.events,
            "ROUTER_TOPIC_DLQ": topics.dlq,
            "ROUTER_CONSUMER_GROUP": topics.group,
            "ROUTER_HTTP_HOST": "127.0.0.1",
            **self.secrets.environment(),
        }
        env.update(extra)
        return env

    def write_plan(self, name: str, plan: dict[str, Any]) -> Path:
        """A plan file for a child process."""
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
        path = self.folder / f"{slug}.json"
        path.write_text(json.dumps(plan, default=str))
        return path

    def watch_stack(self) -> None:
        """Sample the broker and the database server in every phase."""
        self.monitor.watch("kafka", self.stack.kafka_pid)
        self.monitor.watch("postgres", self.stack.postgres_pid, tree=True)
        self.monitor.watch("bench", os.getpid())
