"""Object-level and role checks, table-driven over every endpoint.

An agent never reads, lists or changes a conversation they neither own nor are offered (404,
as if it did not exist); agents never reach administration (403); supervisors do not change
configuration (403); keys without an agent have no offers or presence (403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Conversation
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories, seed
from tests.console.conftest import Team, bearer


@dataclass
class World:
    team: Team
    owned: uuid.UUID  # Ada accepted it
    waiting: uuid.UUID  # waits in the billing queue, nobody serves it
    billing: uuid.UUID


@pytest.fixture
async def world(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> World:
    _, client = api
    engine = RoutingEngine(sessions, console_settings)
    await engine.process([factories.sms("mine", sender="+14155550101")])
    [owned] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()["items"]
    accepted = await client.post(
        f"/v1/conversations/{owned['id']}/accept", headers=bearer(team.ada_key)
    )
    assert accepted.status_code == 200
    billing = await seed.add_queue(sessions, "billing")
    await engine.process([factories.email("bill", sender="zed@example.com")])
    supervisor = bearer(team.supervisor_key)
    everything = (await client.get("/v1/conversations", headers=supervisor)).json()["items"]
    [other] = [item for item in everything if item["id"] != owned["id"]]
    # Ada has no room left on email? She has: move it away from her to the unserved queue.
    moved = await client.post(
        f"/v1/conversations/{other['id']}/assign",
        headers=supervisor,
        json={"queue_id": str(billing)},
    )
    assert moved.status_code == 200, moved.text
    return World(team, uuid.UUID(owned["id"]), uuid.UUID(other["id"]), billing)


def _conversation_calls(world: World, cid: uuid.UUID) -> list[tuple[str, str, Any]]:
    base = f"/v1/conversations/{cid}"
    return [
        ("GET", base, None),
        ("POST", f"{base}/accept", None),
        ("POST", f"{base}/decline", None),
        ("POST", f"{base}/resolve", {"reason": "x"}),
        ("POST", f"{base}/reopen", None),
        ("POST", f"{base}/transfer", {"queue_id": str(world.team.default_queue)}),
        ("POST", f"{base}/notes", {"text": "peek"}),
        ("POST", f"{base}/replies", {"text": "hello"}),
    ]


def _admin_reads(world: World) -> list[tuple[str, str, Any]]:
    return [
        ("GET", "/v1/queues", None),
        ("GET", f"/v1/queues/{world.billing}", None),
        ("GET", "/v1/agents", None),
        ("GET", f"/v1/agents/{world.team.ada}", None),
        ("GET", "/v1/routing-policy", None),
        ("GET", "/v1/routing-policy/versions", None),
        ("POST", f"/v1/conversations/{world.owned}/assign", {"queue_id": str(world.billing)}),
    ]


def _admin_writes(world: World) -> list[tuple[str, str, Any]]:
    return [
        ("POST", "/v1/queues", {"name": "sneaky"}),
        ("PATCH", f"/v1/queues/{world.billing}", {"priority": 5}),
        ("DELETE", f"/v1/queues/{world.billing}", None),
        ("POST", "/v1/agents", {"handle": "mallory", "display_name": "Mallory"}),
        ("PATCH", f"/v1/agents/{world.team.bob}", {"capacity": {"email": 99}}),
        ("DELETE", f"/v1/agents/{world.team.bob}", None),
        ("PUT", "/v1/routing-policy", {"default_queue": "billing"}),
    ]


async def _call(client: httpx.AsyncClient, key: str, call: tuple[str, str, Any]) -> httpx.Response:
    method, path, body = call
    return await client.request(method, path, headers=bearer(key), json=body)


async def _unchanged(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    async with sessions() as session:
        owned = await session.get_one(Conversation, world.owned)
        waiting = await session.get_one(Conversation, world.waiting)
    assert (owned.status, owned.agent_id, owned.offer_state) == ("open", world.team.ada, "accepted")
    assert (waiting.status, waiting.agent_id, waiting.queue_id) == ("open", None, world.billing)


async def test_an_agent_cannot_see_or_touch_what_is_not_theirs(
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    _, client = api
    for key in (world.team.bob_key, world.team.ada_key):
        calls = _conversation_calls(world, world.waiting)
        if key == world.team.bob_key:
            calls += _conversation_calls(world, world.owned)
        for call in calls:
            response = await _call(client, key, call)
            assert response.status_code == 404, (call, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        listed = await client.get(
            "/v1/conversations", params={"queue": str(world.billing)}, headers=bearer(key)
        )
        assert listed.json()["items"] == []
        for status in ("open", "resolved"):
            mine = await client.get(
                "/v1/conversations", params={"status": status}, headers=bearer(key)
            )
            ids = {item["id"] for item in mine.json()["items"]}
            assert str(world.waiting) not in ids
            if key == world.team.bob_key:
                assert ids == set()
    await _unchanged(sessions, world)


async def test_agents_never_reach_administration(
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    _, client = api
    for call in _admin_reads(world) + _admin_writes(world):
        response = await _call(client, world.team.ada_key, call)
        assert response.status_code == 403, (call, response.text)
        assert response.json()["type"].endswith("/forbidden")
    await _unchanged(sessions, world)


async def test_supervisors_read_and_move_but_do_not_configure(
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    _, client = api
    key = world.team.supervisor_key
    for call in _admin_writes(world):
        response = await _call(client, key, call)
        assert response.status_code == 403, (call, response.text)
    for call in _admin_reads(world)[:-1]:
        response = await _call(client, key, call)
        assert response.status_code == 200, (call, response.text)
    # A key with no agent has no offers to take and no presence to set.
    for path in ("accept", "decline"):
        response = await client.post(f"/v1/conversations/{world.owned}/{path}", headers=bearer(key))
        assert response.status_code == 403
    presence = await client.put("/v1/me/presence", headers=bearer(key), json={"presence": "away"})
    assert presence.status_code == 403
    await _unchanged(sessions, world)


async def test_only_the_owner_who_accepted_replies_transfers_or_resolves(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.sms("offer only")])
    [offered] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()[
        "items"
    ]
    cid = offered["id"]
    for path, body in (
        ("resolve", None),
        ("transfer", {"queue_id": str(team.default_queue)}),
        ("replies", {"text": "too early"}),
    ):
        response = await client.post(
            f"/v1/conversations/{cid}/{path}", headers=bearer(team.ada_key), json=body
        )
        assert response.status_code == 403, (path, response.text)
    # Reading it and noting on it are fine while it is offered.
    assert (
        await client.get(f"/v1/conversations/{cid}", headers=bearer(team.ada_key))
    ).status_code == 200
    note = await client.post(
        f"/v1/conversations/{cid}/notes", headers=bearer(team.ada_key), json={"text": "hm"}
    )
    assert note.status_code == 201


async def test_every_v1_endpoint_wants_a_key(
    api: tuple[FastAPI, httpx.AsyncClient], team: Team
) -> None:
    app, client = api
    operations = [
        (
            method.upper(),
            path.replace("{conversation_id}", str(uuid.uuid4()))
            .replace("{queue_id}", str(team.default_queue))
            .replace("{agent_id}", str(team.ada)),
        )
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in item
    ]
    assert len(operations) >= 25
    for method, path in operations:
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
