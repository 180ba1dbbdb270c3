"""Long-polling my work list: woken by the change feed, cheap 304s when nothing changed."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.console.runtime import ConsoleRuntime
from router.routing.engine import RoutingEngine
from tests import factories
from tests.console.conftest import Team, bearer


async def test_unchanged_list_is_304_at_once_without_wait_and_after_wait(
    api: tuple[FastAPI, httpx.AsyncClient], team: Team
) -> None:
    _, client = api
    first = await client.get("/v1/conversations", headers=bearer(team.ada_key))
    assert first.status_code == 200
    etag = first.headers["etag"]

    unchanged = await client.get(
        "/v1/conversations", headers={**bearer(team.ada_key), "If-None-Match": etag}
    )
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    started = time.monotonic()
    waited = await client.get(
        "/v1/conversations",
        params={"wait": 1},
        headers={**bearer(team.ada_key), "If-None-Match": f'W/{etag}, "other"'},
    )
    assert waited.status_code == 304
    assert 0.9 <= time.monotonic() - started < 3


async def test_a_waiting_poll_returns_within_a_second_of_an_offer(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    app, client = api
    runtime: ConsoleRuntime = app.state.console
    await asyncio.wait_for(runtime.feed.listening.wait(), 10)
    empty = await client.get("/v1/conversations", headers=bearer(team.ada_key))
    etag = empty.headers["etag"]

    async def poll() -> tuple[httpx.Response, float]:
        response = await client.get(
            "/v1/conversations",
            params={"wait": 20},
            headers={**bearer(team.ada_key), "If-None-Match": etag},
        )
        return response, time.monotonic()

    waiting = asyncio.create_task(poll())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    routed_at = time.monotonic()
    await routing_engine.process([factories.sms("help")])
    response, answered_at = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 200
    assert answered_at - routed_at < 1.0
    [item] = response.json()["items"]
    assert item["agent_id"] == str(team.ada)
    assert response.headers["etag"] != etag


async def test_a_change_for_another_agent_does_not_answer_my_poll(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    app, client = api
    runtime: ConsoleRuntime = app.state.console
    await asyncio.wait_for(runtime.feed.listening.wait(), 10)
    etag = (await client.get("/v1/conversations", headers=bearer(team.bob_key))).headers["etag"]
    waiting = asyncio.create_task(
        client.get(
            "/v1/conversations",
            params={"wait": 2},
            headers={**bearer(team.bob_key), "If-None-Match": etag},
        )
    )
    await asyncio.sleep(0.2)
    # Ada gets this one (Bob is offline): Bob's list is unchanged.
    await routing_engine.process([factories.sms("for ada")])
    response = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 304


async def test_supervisors_wait_on_every_change(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    app, client = api
    runtime: ConsoleRuntime = app.state.console
    await asyncio.wait_for(runtime.feed.listening.wait(), 10)
    etag = (await client.get("/v1/conversations", headers=bearer(team.supervisor_key))).headers[
        "etag"
    ]
    waiting = asyncio.create_task(
        client.get(
            "/v1/conversations",
            params={"wait": 20},
            headers={**bearer(team.supervisor_key), "If-None-Match": etag},
        )
    )
    await asyncio.sleep(0.3)
    await routing_engine.process([factories.email("hi")])
    response = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


async def test_the_feed_listens_again_after_its_connection_is_killed(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    from sqlalchemy import text

    app, client = api
    runtime: ConsoleRuntime = app.state.console
    await asyncio.wait_for(runtime.feed.listening.wait(), 10)
    assert runtime.feed.connections == 1
    async with sessions() as session:
        killed = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'router-feed' AND datname = current_database()"
            )
        )
    assert killed == 1
    for _ in range(500):
        if runtime.feed.connections == 2 and runtime.feed.listening.is_set():
            break
        await asyncio.sleep(0.02)
    assert runtime.feed.connections == 2

    etag = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).headers["etag"]
    waiting = asyncio.create_task(
        client.get(
            "/v1/conversations",
            params={"wait": 20},
            headers={**bearer(team.ada_key), "If-None-Match": etag},
        )
    )
    await asyncio.sleep(0.3)
    routed_at = time.monotonic()
    await routing_engine.process([factories.sms("after")])
    response = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 200
    assert time.monotonic() - routed_at < 1.0
