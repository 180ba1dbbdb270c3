"""`/metrics` behind a bearer token, or on a port of its own off the public API's."""

from __future__ import annotations

import socket

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from devstack.net import free_port
from router.configuration import ConfigurationError
from router.routing.probe import probe_app
from router.settings import Settings
from tests import seed
from tests.support import app_client

TOKEN = "scrape-7f3a9c"


def _settings(database_url: str, **changes: object) -> Settings:
    return Settings(database_url=SecretStr(database_url), **changes)  # type: ignore[arg-type]


async def test_without_settings_metrics_stay_open_on_the_api_port(database_url: str) -> None:
    async with app_client(_settings(database_url)) as (_, client):
        answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert "router_webhook_requests_total" in answer.text


async def test_the_token_is_asked_for_on_the_api_port(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    await seed.add_agent(sessions, "quiet", capacity={"chat": 3}, queues=[default])
    settings = _settings(database_url, metrics_token=SecretStr(TOKEN))
    async with app_client(settings) as (_, client):
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        scraper = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    for refused in (anonymous, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "quiet" not in refused.text
    assert scraper.status_code == 200
    assert 'router_agent_capacity{agent="quiet",channel="chat"} 3.0' in scraper.text


async def test_a_metrics_port_takes_metrics_off_the_api_port(database_url: str) -> None:
    port = free_port()
    settings = _settings(database_url, metrics_port=port, metrics_token=SecretStr(TOKEN))
    async with app_client(settings) as (app, client):
        on_api = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:
            anonymous = await scraper.get("/metrics")
            scraped = await scraper.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert app.state.metrics_port == port
    assert on_api.status_code == 404
    assert anonymous.status_code == 401
    assert scraped.status_code == 200
    assert "router_webhook_requests_total" in scraped.text
    with socket.socket() as probe:  # the port is released with the app
        probe.bind(("127.0.0.1", port))


async def test_a_taken_metrics_port_fails_the_start_naming_the_setting(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = _settings(database_url, metrics_port=port)
        with pytest.raises(ConfigurationError, match=f"127.0.0.1:{port} \\(ROUTER_METRICS_PORT\\)"):
            async with app_client(settings):
                pass


async def test_the_consumers_probe_port_asks_for_the_token_too(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async def holding_partitions() -> None:
        return None

    settings = _settings(database_url, metrics_token=SecretStr(TOKEN))
    app = probe_app(engine, sessions, holding_partitions, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as client:
        anonymous = await client.get("/metrics")
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        ready = await client.get("/readyz")
    assert anonymous.status_code == 401
    assert scraped.status_code == 200
    assert "router_batch_records" in scraped.text
    assert ready.status_code == 200
