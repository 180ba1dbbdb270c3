"""Liveness and readiness reflect the real parts."""

from __future__ import annotations

import asyncio

from devstack.kafka import KafkaBroker
from router.settings import Settings
from tests.support import app_client


async def test_ready_with_database_and_broker(settings: Settings) -> None:
    async with app_client(settings) as (_, client):
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "up", "transport": "up"}


async def test_ready_on_the_inline_transport(database_url: str) -> None:
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    async with app_client(settings) as (_, client):
        ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_readyz_turns_503_when_the_broker_stops(settings: Settings) -> None:
    broker = KafkaBroker(partitions=1)
    bootstrap = await asyncio.to_thread(broker.start)
    try:
        own = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
        async with app_client(own) as (_, client):
            assert (await client.get("/readyz")).status_code == 200
            await asyncio.to_thread(broker.stop)
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert body["checks"]["database"] == "up"
            assert body["checks"]["transport"].startswith("down")
    finally:
        await asyncio.to_thread(broker.stop)
