"""Helpers for tests that drive the real app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.app import create_app
from router.models import ConversationEvent, CustomerIdentity
from router.settings import Settings


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan running, and an HTTP client speaking to it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
            yield app, client


@asynccontextmanager
async def served_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, int]]:
    """The real app served by uvicorn on a free loopback port, in this event loop.

    For tests that need a real socket between client and app (a client that goes away
    mid-request), which the in-process transport cannot show.
    """
    import asyncio
    import socket

    import uvicorn

    app = create_app(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # start-up failed: raise its error
            await asyncio.sleep(0.02)
        yield app, port
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def committed_offsets(settings: Settings) -> dict[int, int]:
    """The offsets the router's consumer group has committed, by partition (none: absent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.consumer_group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def read_topic(settings: Settings, topic: str, count: int) -> list[ConsumerRecord]:
    """The topic's first `count` records from all its partitions, by partition and offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.topic_partitions)])
        found: list[ConsumerRecord] = []
        while len(found) < count:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"only {len(found)} of {count} records arrived"
            found.extend(record for records in batch.values() for record in records)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda record: (record.partition, record.offset))


async def conversation_events(
    sessions: async_sessionmaker[AsyncSession], conversation: uuid.UUID, kind: str | None = None
) -> list[ConversationEvent]:
    """A conversation's history rows, oldest first; only those of `kind` when it is given."""
    wanted = select(ConversationEvent).where(ConversationEvent.conversation_id == conversation)
    if kind is not None:
        wanted = wanted.where(ConversationEvent.kind == kind)
    async with sessions() as session:
        return list((await session.scalars(wanted.order_by(ConversationEvent.id))).all())


async def customer_of(
    sessions: async_sessionmaker[AsyncSession], kind: str, value: str
) -> uuid.UUID:
    """The customer the identity `kind:value` belongs to; it must be known."""
    async with sessions() as session:
        found = await session.scalar(
            select(CustomerIdentity.customer_id).where(
                CustomerIdentity.kind == kind, CustomerIdentity.value == value
            )
        )
    assert found is not None, (kind, value)
    return found


def refusal(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """The body of an `application/problem+json` refusal, its status and problem type checked."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f"/{kind}"), body
    return body
