"""The ceilings: what bare code does on this machine, with no service code at all.

(a) HTTP: `python -m bench.ceilings serve fastapi|asgi PORT` serves a bare FastAPI app (one
    catch-all POST route that reads the body and answers 200) or a bare ASGI callable, under
    exactly the uvicorn settings `router serve` uses.
(b) Pipeline: `python -m bench.ceilings pipeline PLAN.json` produces N realistic envelopes
    with aiokafka (acks=all, idempotent), then drains them in a consumer group: decode the
    JSON, insert each partition's batch into a plain PostgreSQL table with asyncpg in one
    transaction, commit that partition's offset. It prints its timings as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def uvicorn_options(host: str, port: int) -> dict[str, Any]:
    """The keyword arguments `router serve` gives `uvicorn.run` (see `router.cli._serve`).

    Loop and HTTP implementation stay on uvicorn's "auto": uvloop and httptools when they
    are installed (they come with `uvicorn[standard]`), one worker.
    """
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": 20,
    }


def fastapi_app() -> FastAPI:
    """A bare FastAPI app: every POST reads its whole body and answers an empty 200."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/{path:path}")
    async def take(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    return app


async def bare_asgi(
    scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Any]
) -> None:
    """A bare ASGI callable: read the body, answer an empty 200."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


def serve(kind: str, port: int) -> int:
    """Serve a bare app on 127.0.0.1:PORT until SIGTERM."""
    import uvicorn

    app = fastapi_app() if kind == "fastapi" else bare_asgi
    uvicorn.run(app, **uvicorn_options("127.0.0.1", port))
    return 0


# -- (b) the pipeline ----------------------------------------------------------------------


@dataclass
class PipelinePlan:
    """Where the pipeline ceiling runs and on what."""

    bootstrap: str
    database: str  # asyncpg DSN
    database_host: str | None
    topic: str
    group: str
    partitions: int
    records: str  # file of length-prefixed (key, value) pairs
    max_batch: int = 500
    # The bare pipeline drains fast: it sends the records this many times, each copy with its
    # own provider message ids, so its drain lasts long enough to be timed and sampled.
    copies: int = 4


TABLE = """
CREATE TABLE IF NOT EXISTS bench_inbound (
    provider text NOT NULL,
    provider_message_id text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    conversation_key text NOT NULL,
    payload jsonb NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_message_id)
)
"""
_MESSAGE_ID = b'"provider_message_id":"'
INSERT = (
    "INSERT INTO bench_inbound (provider, provider_message_id, event_id, type,"
    " conversation_key, payload) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT DO NOTHING"
)


def write_records(path: Path, pairs: list[tuple[bytes, bytes]]) -> None:
    """Store (key, value) pairs length-prefixed, for the processes that produce them."""
    with path.open("wb") as out:
        for key, value in pairs:
            out.write(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)


def read_records(path: Path) -> list[tuple[bytes, bytes]]:
    """The pairs `write_records` stored."""
    data = path.read_bytes()
    pairs, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        key = data[at + 4 : at + 4 + size]
        at += 4 + size
        size = int.from_bytes(data[at : at + 4], "big")
        pairs.append((key, data[at + 4 : at + 4 + size]))
        at += 4 + size
    return pairs


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """A topic with the router's partition count (replication 1, one broker)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        # Wait for every partition's leader, so the first sends are not refused and retried.
        for _ in range(100):
            described = await admin.describe_topics([topic])
            leaders = [p["leader"] for p in described[0]["partitions"]] if described else []
            if len(leaders) == partitions and all(leader >= 0 for leader in leaders):
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> float:
    """Send every record with acks=all and wait for all acknowledgements; the seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [await producer.send(topic, value=value, key=key) for key, value in pairs]
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def _row(value: bytes) -> tuple[str, str, str, str, str, str]:
    event = json.loads(value)
    data = event["data"]
    return (
        data["provider"],
        data["provider_message_id"],
        event["id"],
        event["type"],
        data["conversation_key"],
        json.dumps(data),
    )


async def drain(plan: PipelinePlan, expected: int) -> dict[str, float]:
    """Consume, insert and commit until `expected` records are stored; the timings."""
    import asyncpg
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    pool = await asyncpg.create_pool(
        plan.database, host=plan.database_host, min_size=4, max_size=10
    )
    async with pool.acquire() as connection:
        await connection.execute(TABLE)
    consumer = AIOKafkaConsumer(
        plan.topic,
        bootstrap_servers=plan.bootstrap,
        group_id=plan.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=plan.max_batch,
        isolation_level="read_committed",
    )
    started = time.perf_counter()
    await consumer.start()
    first = 0.0
    done = 0

    async def apply(tp: TopicPartition, records: list[Any]) -> None:
        rows = [_row(record.value) for record in records]
        async with pool.acquire() as connection, connection.transaction():
            await connection.executemany(INSERT, rows)
        await consumer.commit({tp: OffsetAndMetadata(records[-1].offset + 1, "")})

    try:
        while done < expected:
            batches = await consumer.getmany(timeout_ms=200, max_records=plan.max_batch)
            if not batches:
                continue
            if not first:
                first = time.perf_counter()
            await asyncio.gather(*(apply(tp, records) for tp, records in batches.items()))
            done += sum(len(records) for records in batches.values())
        finished = time.perf_counter()
    finally:
        await consumer.stop()
        await pool.close()
    return {
        "records": float(done),
        "join_seconds": first - started,
        "drain_seconds": finished - first,
        "drain_rate": done / (finished - first),
        # Wall-clock bounds of the drain, for the CPU the processes spent in it.
        "drain_from": time.time() - (time.perf_counter() - first),
        "drain_to": time.time() - (time.perf_counter() - finished),
    }


async def pipeline(plan: PipelinePlan) -> dict[str, float]:
    """Produce all records, then drain them; both timed."""
    pairs = [
        (key, value.replace(_MESSAGE_ID, _MESSAGE_ID + f"copy{copy}-".encode()))
        for copy in range(plan.copies)
        for key, value in read_records(Path(plan.records))
    ]
    await create_topic(plan.bootstrap, plan.topic, plan.partitions)
    produce_seconds = await produce(plan.bootstrap, plan.topic, pairs)
    timings = await drain(plan, len(pairs))
    return {
        "produce_seconds": produce_seconds,
        "produce_rate": len(pairs) / produce_seconds,
        **timings,
    }


def main(argv: list[str]) -> int:
    """`serve fastapi|asgi PORT` or `pipeline PLAN.json`."""
    if len(argv) == 3 and argv[0] == "serve":
        return serve(argv[1], int(argv[2]))
    if len(argv) == 2 and argv[0] == "pipeline":
        plan = PipelinePlan(**json.loads(Path(argv[1]).read_text()))
        # The default asyncio loop, as `router consume` runs on (`asyncio.run`).
        print(json.dumps(asyncio.run(pipeline(plan))), flush=True)
        return 0
    print("usage: python -m bench.ceilings serve fastapi|asgi PORT | pipeline PLAN", sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
