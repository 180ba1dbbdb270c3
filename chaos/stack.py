"""The parts a chaos run breaks: three Kafka brokers, PostgreSQL, `router serve` and two
`router consume`, each a real process configured by `ROUTER_*` variables.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.payloads import Secrets
from bench.processes import ROUTER, Child, environment, wait_ready
from bench.stack import Database, database_at

from devstack.kafka import KafkaCluster
from devstack.net import free_port
from devstack.postgres import RestartablePostgres

DATABASE = "chaos"
DLQ_TOPIC = "router.inbound.dlq.v1"
INBOUND_TOPIC = "router.inbound.v1"
GROUP = "router"


@dataclass
class Consumer:
    """One `router consume` member and the probe port it keeps across restarts."""

    name: str
    port: int
    child: Child | None = None
    # Held while the member is being killed or started, so it is never started twice.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Stack:
    """The running parts, and how to start each service process again."""

    folder: Path
    secrets: Secrets
    offer_timeout: float
    sweep_interval: float
    exclusion: float
    cluster: KafkaCluster = field(default_factory=KafkaCluster)
    postgres: RestartablePostgres = field(default_factory=RestartablePostgres)
    database: Database | None = None
    http_port: int = 0
    serve: Child | None = None
    consumers: list[Consumer] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def environment(self, **extra: str) -> dict[str, str]:
        """The service processes' environment: `ROUTER_*` only, as an operator sets it."""
        assert self.database is not None
        return environment(
            {
                "ROUTER_DATABASE_URL": self.database.url,
                "ROUTER_KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap_servers,
                "ROUTER_TOPIC_REPLICATION_FACTOR": "3",
                "ROUTER_OFFER_TIMEOUT_SECONDS": f"{self.offer_timeout:g}",
                "ROUTER_SWEEP_INTERVAL_SECONDS": f"{self.sweep_interval:g}",
                # Short, so agents left out of an offer are eligible again before the end.
                "ROUTER_OFFER_EXCLUSION_SECONDS": f"{self.exclusion:g}",
                "ROUTER_HTTP_HOST": "127.0.0.1",
                "ROUTER_HTTP_PORT": str(self.http_port),
                "ROUTER_LOG_LEVEL": "WARNING",
                **self.secrets.environment(),
                **self.extra,
                **extra,
            }
        )

    async def start(self, say: object = print) -> None:
        """Brokers and database, the migrated database, then serve and both consumers."""
        started = time.monotonic()
        servers, _ = await asyncio.gather(
            asyncio.to_thread(self.cluster.start), asyncio.to_thread(self._postgres)
        )
        say(f"3 Kafka brokers ({servers}) and PostgreSQL up in {time.monotonic() - started:.0f} s")  # type: ignore[operator]
        self.http_port = free_port()
        migrate = await Child.start("migrate", [ROUTER, "migrate"], self.environment(), self.folder)
        if await migrate.wait() != 0:
            raise RuntimeError(f"router migrate failed:\n{migrate.tail()}")
        self.serve = await Child.start("serve", [ROUTER, "serve"], self.environment(), self.folder)
        await wait_ready(self.serve, f"{self.api}/readyz", within=90)
        self.consumers = [Consumer(f"consume-{n}", free_port()) for n in (1, 2)]
        for consumer in self.consumers:
            await self.start_consumer(consumer, ready=False)
        for consumer in self.consumers:
            assert consumer.child is not None
            await wait_ready(consumer.child, f"http://127.0.0.1:{consumer.port}/readyz", 90)

    def _postgres(self) -> None:
        server = self.postgres.start()
        self.database = database_at(server, DATABASE)
        admin = database_at(server, "postgres")

        async def create() -> None:
            connection = await admin.connect()
            try:
                await connection.execute(f"CREATE DATABASE {DATABASE}")
            finally:
                await connection.close()

        asyncio.run(create())

    async def start_consumer(self, consumer: Consumer, *, ready: bool = True) -> None:
        """Start (or start again) one consumer; with `ready`, wait until it holds partitions."""
        env = self.environment(ROUTER_CONSUMER_HTTP_PORT=str(consumer.port))
        consumer.child = await Child.start(consumer.name, [ROUTER, "consume"], env, self.folder)
        if ready:
            await wait_ready(consumer.child, f"http://127.0.0.1:{consumer.port}/readyz", 120)

    async def router_command(self, *arguments: str) -> str:
        """Run a `router` subcommand against the run's database; its standard output."""
        process = await asyncio.create_subprocess_exec(
            ROUTER,
            *arguments,
            env=self.environment(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"router {' '.join(arguments)} failed: {err.decode()}")
        return out.decode()

    async def stop(self) -> None:
        """Stop the service processes, then the brokers and the database."""
        children = [self.serve, *(c.child for c in self.consumers)]
        await asyncio.gather(*(child.stop(grace=20) for child in children if child is not None))
        await asyncio.to_thread(self.cluster.stop)
        await asyncio.to_thread(self.postgres.stop)
