"""CPU time `router serve`'s app spends per webhook, measured in-process.

    python -m devstack run -- python -m bench.webhook_cpu [COUNT] [CONCURRENCY]

Builds the real app on the Kafka broker and PostgreSQL that `devstack run` passes in
(`ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS`, `ROUTER_TEST_DATABASE_URL`; the database is
migrated, the topics `bench.webhook-cpu.*` are made by the first run), makes COUNT (default
5000) signed webhooks of the load generator's mix (`bench.payloads`) and calls the app with
them as ASGI requests, CONCURRENCY (default 32) in flight, on uvloop like the server. A
warm-up of a fifth of COUNT goes first and is not counted. It prints one JSON line: the
process CPU time per webhook in microseconds (`cpu_us`; the broker runs in its own process),
the wall time per webhook and the answers by status. No sockets and no HTTP parsing: this
is the app's share of a webhook only. The machine's noise is large; compare two versions by
alternating runs of each.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from typing import Any

import uvloop
from fastapi import FastAPI

from bench.payloads import PUBLIC_BASE_URL, Secrets, Traffic, Webhook
from router.app import create_app
from router.settings import Settings


def settings(secrets: Secrets) -> Settings:
    """The app's settings: devstack's broker and database, the bench's topics, the secrets."""
    prefix = "bench.webhook-cpu"
    configured = {
        name.removeprefix("ROUTER_").lower(): value for name, value in secrets.environment().items()
    }
    return Settings(
        **configured,
        database_url=os.environ["ROUTER_TEST_DATABASE_URL"],
        migrate_on_start=True,
        kafka_bootstrap_servers=os.environ["ROUTER_TEST_KAFKA_BOOTSTRAP_SERVERS"],
        topic_inbound=f"{prefix}.inbound",
        topic_events=f"{prefix}.events",
        topic_dlq=f"{prefix}.dlq",
        consumer_group=f"{prefix}-router",
    )


def scope(webhook: Webhook) -> dict[str, Any]:
    """The ASGI scope uvicorn would make for the webhook, arriving at the public URL."""
    path, _, query = webhook.path.partition("?")
    host = PUBLIC_BASE_URL.removeprefix("https://")
    headers = [(b"host", host.encode()), (b"content-length", str(len(webhook.body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in webhook.headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "server": (host, 443),
        "client": ("127.0.0.1", 40000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
    }


async def call(app: FastAPI, webhook: Webhook) -> int:
    """One webhook through the app; its answer's status."""
    body = webhook.body
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(webhook), receive, send)
    return status


async def drive(app: FastAPI, webhooks: list[Webhook], concurrency: int) -> Counter[int]:
    """Every webhook through the app, `concurrency` at a time; the answers by status."""
    statuses: Counter[int] = Counter()
    queue = iter(webhooks)

    async def worker() -> None:
        for webhook in queue:
            statuses[await call(app, webhook)] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def measure(count: int, concurrency: int) -> dict[str, Any]:
    """Warm the app up, then time `count` webhooks through it."""
    secrets = Secrets.generate(random.Random(1))
    traffic = Traffic(secrets, seed=7, tag=uuid.uuid4().hex[:6])
    warm_up = [traffic.next() for _ in range(max(1, count // 5))]
    webhooks = [traffic.next() for _ in range(count)]
    app = create_app(settings(secrets))
    async with app.router.lifespan_context(app):
        await drive(app, warm_up, concurrency)
        cpu, wall = time.process_time(), time.perf_counter()
        statuses = await drive(app, webhooks, concurrency)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "webhooks": count,
        "concurrency": concurrency,
        "cpu_us": round(cpu / count * 1e6, 1),
        "wall_us": round(wall / count * 1e6, 1),
        "statuses": dict(sorted(statuses.items())),
    }


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 5000
    concurrency = int(argv[1]) if len(argv) > 1 else 32
    print(json.dumps(uvloop.run(measure(count, concurrency))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
