"""Supervisors and admins: queues overview, agents and queues CRUD, the policy, moves."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import AgentCapacity, RoutingPolicy
from router.routing.engine import RoutingEngine
from tests import factories
from tests.console.conftest import Team, bearer

HOURS = {
    "time_zone": "Europe/Berlin",
    "weekly": {"monday": [{"opens": "09:00", "closes": "17:00"}]},
    "holidays": ["2026-12-25"],
}


async def test_admin_manages_queues_and_agents_without_mass_assignment(
    api: tuple[FastAPI, httpx.AsyncClient], team: Team
) -> None:
    _, client = api
    admin = bearer(team.admin_key)
    queue = await client.post(
        "/v1/queues",
        headers=admin,
        json={
            "name": "billing",
            "required_skills": {"invoices": 2},
            "language": "de",
            "priority": 5,
            "business_hours": HOURS,
            "overflow_queue_id": str(team.default_queue),
        },
    )
    assert queue.status_code == 201, queue.text
    billing = queue.json()
    assert billing["business_hours"]["time_zone"] == "Europe/Berlin"
    assert billing["overflow_queue_id"] == str(team.default_queue)

    bad_hours = await client.patch(
        f"/v1/queues/{billing['id']}",
        headers=admin,
        json={"business_hours": {"time_zone": "Mars/Olympus", "weekly": {}}},
    )
    assert bad_hours.status_code == 422
    assert bad_hours.headers["content-type"] == "application/problem+json"
    cleared = await client.patch(
        f"/v1/queues/{billing['id']}", headers=admin, json={"business_hours": None}
    )
    assert cleared.json()["business_hours"] is None
    assert cleared.json()["language"] == "de"  # absent fields stay

    agent = await client.post(
        "/v1/agents",
        headers=admin,
        json={
            "handle": "cleo",
            "display_name": "Cleo",
            "skills": {"invoices": 3},
            "languages": ["de", "en"],
            "capacity": {"email": 3, "chat": 2},
            "queue_ids": [billing["id"]],
        },
    )
    assert agent.status_code == 201, agent.text
    cleo = agent.json()
    assert cleo["presence"] == "offline"
    assert {load["channel"]: load["capacity"] for load in cleo["load"]} == {"chat": 2, "email": 3}
    assert cleo["queue_ids"] == [billing["id"]]

    for smuggled in ({"presence": "online"}, {"created_at": "2020-01-01T00:00:00Z"}):
        refused = await client.patch(f"/v1/agents/{cleo['id']}", headers=admin, json=smuggled)
        assert refused.status_code == 422, smuggled
    duplicate = await client.post(
        "/v1/agents", headers=admin, json={"handle": "cleo", "display_name": "Other"}
    )
    assert duplicate.status_code == 409

    changed = await client.patch(
        f"/v1/agents/{cleo['id']}", headers=admin, json={"capacity": {"email": 1}}
    )
    assert changed.status_code == 200, changed.text
    assert [load["channel"] for load in changed.json()["load"]] == ["email"]

    listed = await client.get("/v1/agents", headers=bearer(team.supervisor_key))
    assert [item["handle"] for item in listed.json()] == ["ada", "bob", "cleo"]
    assert (await client.delete(f"/v1/agents/{cleo['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/v1/agents/{cleo['id']}", headers=admin)).status_code == 404
    assert (await client.delete(f"/v1/queues/{billing['id']}", headers=admin)).status_code == 204
    default = await client.delete(f"/v1/queues/{team.default_queue}", headers=admin)
    assert default.status_code == 409


async def test_capacity_never_drops_below_what_an_agent_holds(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    await routing_engine.process([factories.sms("hi")])
    refused = await client.patch(
        f"/v1/agents/{team.ada}", headers=bearer(team.admin_key), json={"capacity": {"email": 1}}
    )
    assert refused.status_code == 409
    assert "sms (holds 1)" in refused.json()["detail"]
    async with sessions() as session:
        sms = await session.scalar(
            select(AgentCapacity.capacity).where(
                AgentCapacity.agent_id == team.ada, AgentCapacity.channel == "sms"
            )
        )
    assert sms == 2


async def test_an_invalid_policy_is_refused_with_every_reason_and_versions_are_kept(
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    admin = bearer(team.admin_key)
    before = await client.get("/v1/routing-policy", headers=bearer(team.supervisor_key))
    assert before.json()["version"] == 1
    assert before.json()["created_by"] == "built-in"

    invalid = await client.put(
        "/v1/routing-policy",
        headers=admin,
        json={
            "default_queue": "nowhere",
            "rules": [
                {"name": "all", "queue": "default"},
                {"name": "vip", "queue": "vip", "recipients": ["[a]@x"]},
            ],
        },
    )
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    messages = [error["message"] for error in invalid.json()["errors"]]
    assert any("default_queue" in message for message in messages)
    assert any('queue "vip" is not a known queue' in message for message in messages)
    assert any("can never match" in message for message in messages)
    assert any("not supported" in message for message in messages)
    async with sessions() as session:
        assert (await session.scalars(select(RoutingPolicy))).all() == []

    for comment in ("first", "second"):
        published = await client.put(
            "/v1/routing-policy",
            headers=admin,
            json={
                "default_queue": "default",
                "rules": [{"name": "sms", "channels": ["sms"], "queue": "default", "priority": 2}],
                "comment": comment,
            },
        )
        assert published.status_code == 200, published.text
    active = (await client.get("/v1/routing-policy", headers=admin)).json()
    assert (active["version"], active["comment"], active["active"]) == (3, "second", True)
    assert active["created_by"].startswith("admin:root (")
    versions = (await client.get("/v1/routing-policy/versions", headers=admin)).json()
    assert [(v["version"], v["active"]) for v in versions] == [(3, True), (2, False), (1, False)]


async def test_supervisor_sees_backlog_and_force_assigns_within_capacity(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    supervisor = bearer(team.supervisor_key)
    # Bob is offline and Ada takes only two SMS: the third waits.
    for number in ("+14155550001", "+14155550002", "+14155550003"):
        await routing_engine.process([factories.sms("help", sender=number)])
    [default] = [q for q in (await client.get("/v1/queues", headers=supervisor)).json()]
    assert (default["backlog"], default["offered"], default["accepted"]) == (1, 2, 0)
    assert default["oldest_waiting_seconds"] >= 0
    loads = {agent["handle"]: agent["load"] for agent in default["agents"]}
    assert {load["channel"]: load["active"] for load in loads["ada"]}["sms"] == 2

    waiting = next(
        item
        for item in (await client.get("/v1/conversations", headers=supervisor)).json()["items"]
        if item["agent_id"] is None
    )
    full = await client.post(
        f"/v1/conversations/{waiting['id']}/assign",
        headers=supervisor,
        json={"agent_id": str(team.ada)},
    )
    assert full.status_code == 409
    assigned = await client.post(
        f"/v1/conversations/{waiting['id']}/assign",
        headers=supervisor,
        json={"agent_id": str(team.bob), "reason": "Bob knows this customer"},
    )
    assert assigned.status_code == 200, assigned.text
    body = assigned.json()
    assert (body["agent_id"], body["offer_state"]) == (str(team.bob), "accepted")
    assert body["waiting_since"] == waiting["waiting_since"]
    detail = await client.get(f"/v1/conversations/{waiting['id']}", headers=bearer(team.bob_key))
    event = detail.json()["events"]["items"][-1]
    assert (event["kind"], event["actor_kind"], event["reason"]) == (
        "reassigned",
        "supervisor",
        "Bob knows this customer",
    )
    neither = await client.post(
        f"/v1/conversations/{waiting['id']}/assign", headers=supervisor, json={}
    )
    assert neither.status_code == 422


async def test_presence_going_online_gets_waiting_work_offered(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    away = await client.put(
        "/v1/me/presence", headers=bearer(team.ada_key), json={"presence": "away"}
    )
    assert away.json()["agent"]["presence"] == "away"
    await routing_engine.process([factories.email("anyone there?")])
    assert (await client.get("/v1/conversations", headers=bearer(team.bob_key))).json()[
        "items"
    ] == []
    online = await client.put(
        "/v1/me/presence", headers=bearer(team.bob_key), json={"presence": "online"}
    )
    assert online.status_code == 200
    [offered] = (await client.get("/v1/conversations", headers=bearer(team.bob_key))).json()[
        "items"
    ]
    assert offered["offer_state"] == "offered"
    declined = await client.post(
        f"/v1/conversations/{offered['id']}/decline", headers=bearer(team.bob_key)
    )
    assert declined.status_code == 200
    assert declined.json()["agent_id"] is None
    assert (await client.get("/v1/conversations", headers=bearer(team.bob_key))).json()[
        "items"
    ] == []


async def test_notes_refuse_nul_and_pages_follow_the_cursor(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    for number in ("+14155550011", "+14155550012", "+14155550013"):
        await routing_engine.process([factories.sms("page me", sender=number)])
    supervisor = bearer(team.supervisor_key)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/conversations", headers=supervisor, params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3
    bogus = await client.get("/v1/conversations", headers=supervisor, params={"cursor": "!!"})
    assert bogus.status_code == 422
    assert bogus.json()["type"].endswith("/invalid-cursor")
    nul = await client.post(
        f"/v1/conversations/{seen[0]}/notes", headers=supervisor, json={"text": "a\u0000b"}
    )
    assert nul.status_code == 422
