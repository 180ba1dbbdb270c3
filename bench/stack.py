"""The real Kafka broker and PostgreSQL the bench runs on, and fresh databases per phase.

Both come from `devstack` (an Apache Kafka broker in KRaft mode and an embedded PostgreSQL
on a Unix socket, tuned like the test database: fsync off), unless
`ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS` / `ROUTER_TEST_DATABASE_URL` name running ones. Every
phase gets its own database, copied from a template migrated once with the real migrations,
and its own topics, so repetitions do not see each other's data.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy.engine import make_url

TEMPLATE = "bench_template"


@dataclass
class Database:
    """One database on the server: its SQLAlchemy URL and how asyncpg reaches it."""

    name: str
    url: str
    dsn: str
    host: str | None

    async def connect(self) -> asyncpg.Connection:
        """A plain asyncpg connection."""
        return await asyncpg.connect(self.dsn, host=self.host)


def database_at(server_url: str, name: str) -> Database:
    """The database `name` on the server at `server_url` (it may not exist yet)."""
    parsed = make_url(server_url).set(database=name)
    host = parsed.query.get("host")
    plain = parsed.set(drivername="postgresql", query={})
    url = parsed.render_as_string(hide_password=False)
    folder = host[0] if isinstance(host, tuple) else host
    return Database(name, url, plain.render_as_string(hide_password=False), folder)


@dataclass
class Stack:
    """Kafka and PostgreSQL addresses, and the processes behind them when the bench owns them."""

    kafka: str
    server_url: str
    kafka_version: str = "external"
    kafka_pid: int | None = None
    postgres_pid: int | None = None
    _owned: list[Any] = field(default_factory=list)

    @classmethod
    def start(cls, log: Any = print) -> Stack:
        """Start what is not given by the environment."""
        server_url = os.environ.get("ROUTER_TEST_DATABASE_URL", "")
        kafka = os.environ.get("ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS", "")
        stack = cls(kafka=kafka, server_url=server_url)
        if kafka:
            stack.kafka_pid = _listener_pid(kafka.split(",")[0])
        if server_url:
            stack.postgres_pid = _postgres_pid(server_url)
        if not server_url:
            from devstack.postgres import TestPostgres

            started = time.monotonic()
            postgres = TestPostgres()
            stack.server_url = postgres.start()
            stack._owned.append(postgres)
            stack.postgres_pid = _postmaster_pid(postgres.workdir)
            log(f"embedded PostgreSQL up in {time.monotonic() - started:.1f} s")
        if not kafka:
            from devstack.kafka import KafkaBroker, kafka_jars, kafka_version

            started = time.monotonic()
            stack.kafka_version = kafka_version(kafka_jars())
            broker = KafkaBroker(heap="1g", production_gc=True)
            stack.kafka = broker.start()
            stack._owned.append(broker)
            stack.kafka_pid = broker.process.pid if broker.process else None
            log(
                f"Apache Kafka {stack.kafka_version} (KRaft) up in "
                f"{time.monotonic() - started:.1f} s"
            )
        return stack

    def stop(self) -> None:
        """Stop the broker and the database the bench started (newest first)."""
        for part in reversed(self._owned):
            part.stop()
        self._owned.clear()

    def set_postgres_niceness(self, niceness: int) -> bool:
        """Run the server and all its processes at `niceness`; False where that is refused.

        Backends are forked from the server process and inherit its niceness, so those
        started later follow too. Raising niceness needs no privilege; lowering it back
        does (root, or CAP_SYS_NICE).
        """
        if self.postgres_pid is None:
            return False
        try:
            server = psutil.Process(self.postgres_pid)
            for process in [server, *server.children(recursive=True)]:
                try:
                    process.nice(niceness)
                except psutil.NoSuchProcess:
                    continue  # a backend that ended meanwhile
        except psutil.Error:
            return False
        return True

    def database(self, name: str) -> Database:
        """The database `name` on the server (it may not exist yet)."""
        return database_at(self.server_url, name)

    async def _admin(self) -> asyncpg.Connection:
        return await self.database("postgres").connect()

    async def prepare_template(self) -> None:
        """(Re)create the template database with the router's migrations applied."""
        from router.migrate import upgrade

        admin = await self._admin()
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await admin.close()
        await upgrade(self.database(TEMPLATE).url)

    async def fresh_database(self, name: str) -> Database:
        """A new database copied from the migrated template."""
        admin = await self._admin()
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        finally:
            await admin.close()
        return self.database(name)

    async def drop_database(self, name: str) -> None:
        """Drop a phase's database once its numbers are read."""
        admin = await self._admin()
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    async def server_version(self) -> str:
        """PostgreSQL's version string (for the results)."""
        admin = await self._admin()
        try:
            version: str = await admin.fetchval("SHOW server_version")
            return version
        finally:
            await admin.close()


def _listener_pid(address: str) -> int | None:
    """The process listening on a local `host:port` (to sample a server the bench did not start)."""
    port = int(address.rsplit(":", 1)[-1])
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                return int(connection.pid) if connection.pid else None
    except psutil.AccessDenied:
        return None
    return None


AUTOGROUP_SWITCH = Path("/proc/sys/kernel/sched_autogroup_enabled")


def scheduler_autogroups(enabled: bool | None = None) -> bool | None:
    """Whether Linux schedules by session autogroups; with `enabled`, switch them first.

    With autogroups on (the default of many distributions) the scheduler first shares the CPU
    equally between sessions, and a process's niceness ranks it only among the processes of
    its own session. PostgreSQL starts every backend in a session of its own, so each backend
    would weigh as much as `router serve`, the consumers and the agent pool together, whatever
    their niceness. Switching needs root; None where there are no autogroups or switching
    was refused (the setting is then left as it was).
    """
    try:
        if enabled is not None:
            AUTOGROUP_SWITCH.write_text("1\n" if enabled else "0\n")
        return AUTOGROUP_SWITCH.read_text().strip() == "1"
    except OSError:
        return None


def _postgres_pid(server_url: str) -> int | None:
    """The postmaster of a running server: by its Unix socket folder or its TCP port."""
    parsed = make_url(server_url)
    folder = parsed.query.get("host")
    if isinstance(folder, str) and folder.startswith("/"):
        try:
            for connection in psutil.net_connections(kind="unix"):
                if connection.pid and str(connection.laddr).startswith(folder):
                    return int(connection.pid)
        except psutil.AccessDenied:
            return None
        return None
    return _listener_pid(f"x:{parsed.port or 5432}")


def _postmaster_pid(workdir: Path | None) -> int | None:
    """The embedded server's postmaster, from its data folder's `postmaster.pid`."""
    if workdir is None:
        return None
    for candidate in workdir.rglob("postmaster.pid"):
        try:
            return int(candidate.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
    return None
