"""Request size limits and per-key rates on the console API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from router.console.limits import KeyRateLimit, RateLimited
from router.settings import Settings
from tests.console.conftest import Team, bearer
from tests.support import app_client


def test_a_key_gets_its_burst_then_the_average_rate() -> None:
    limit = KeyRateLimit("polls", per_minute=60, burst=3)
    key, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        limit.take(key, now=100.0)
    with pytest.raises(RateLimited) as refused:
        limit.take(key, now=100.0)
    assert refused.value.headers == {"Retry-After": "1"}
    limit.take(other, now=100.0)  # keys do not share a bucket
    limit.take(key, now=101.0)  # one token back after a second at 60 per minute
    with pytest.raises(RateLimited):
        limit.take(key, now=101.5)


@pytest.fixture
async def strict_api(console_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    strict = console_settings.model_copy(
        update={"api_max_body_bytes": 2048, "poll_rate_per_minute": 1}
    )
    async with app_client(strict) as (_, client):
        yield client


async def test_oversized_bodies_are_refused_before_the_route(
    strict_api: httpx.AsyncClient, team: Team
) -> None:
    big = {"text": "x" * 4096}
    declared = await strict_api.post(
        f"/v1/conversations/{uuid.uuid4()}/notes", headers=bearer(team.ada_key), json=big
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    streamed = await strict_api.post(
        f"/v1/conversations/{uuid.uuid4()}/notes",
        headers={**bearer(team.ada_key), "Content-Type": "application/json"},
        content=chunks(),
    )
    assert streamed.status_code == 413
    small = await strict_api.post(
        f"/v1/conversations/{uuid.uuid4()}/notes", headers=bearer(team.ada_key), json={"text": "x"}
    )
    assert small.status_code == 404  # the route itself answered


async def test_polling_too_fast_is_429_with_retry_after(
    strict_api: httpx.AsyncClient, team: Team
) -> None:
    statuses = [
        (await strict_api.get("/v1/conversations", headers=bearer(team.ada_key))).status_code
        for _ in range(31)
    ]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    refused = await strict_api.get("/v1/conversations", headers=bearer(team.ada_key))
    assert int(refused.headers["retry-after"]) > 0
    # Another key is not affected.
    assert (
        await strict_api.get("/v1/conversations", headers=bearer(team.bob_key))
    ).status_code == 200


async def test_the_spec_declares_413_on_every_v1_body(
    api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = api
    for path, item in app.openapi()["paths"].items():
        for operation in item.values():
            if path.startswith("/v1/") and "requestBody" in operation:
                assert "413" in operation["responses"], path
