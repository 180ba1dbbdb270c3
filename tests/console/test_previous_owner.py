"""An agent who owned a conversation and handed it on still reads it, and acts on it no more.

Ada accepts a customer's SMS and transfers it to Bob. She reads it (GET, and the list with
`owned=previously`), while every action she tries answers 404 as for anyone who does not own
it. Bob, offered it and declining, never owned it: once his offer is gone he reads it no more.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Conversation
from router.routing.engine import RoutingEngine
from tests import factories
from tests.console.conftest import Team, bearer


async def _listed(client: httpx.AsyncClient, key: str, **params: str) -> list[str]:
    listed = await client.get("/v1/conversations", headers=bearer(key), params=params)
    assert listed.status_code == 200, listed.text
    return [item["id"] for item in listed.json()["items"]]


async def _state(sessions: async_sessionmaker[AsyncSession], cid: str) -> tuple[Any, ...]:
    async with sessions() as session:
        row = await session.get_one(Conversation, uuid.UUID(cid))
    return (row.status, row.agent_id, row.offer_state, row.queue_id, row.last_agent_id)


async def test_the_previous_owner_reads_a_transferred_conversation_but_cannot_act_on_it(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    ada, bob = bearer(team.ada_key), bearer(team.bob_key)
    await routing_engine.process([factories.sms("where is it?")])
    [cid] = await _listed(client, team.ada_key)
    base = f"/v1/conversations/{cid}"
    assert (await client.post(f"{base}/accept", headers=ada)).status_code == 200
    online = await client.put("/v1/me/presence", headers=bob, json={"presence": "online"})
    assert online.status_code == 200, online.text
    moved = await client.post(
        f"{base}/transfer", headers=ada, json={"agent_id": str(team.bob), "reason": "billing"}
    )
    assert moved.status_code == 200, moved.text

    # Bob holds the offer now; Ada reads what she passed on, with its whole history.
    detail = await client.get(base, headers=ada)
    assert detail.status_code == 200, detail.text
    assert detail.json()["conversation"]["agent_id"] == str(team.bob)
    kinds = [event["kind"] for event in detail.json()["events"]["items"]]
    assert kinds[-2:] == ["accepted", "transferred"]
    assert await _listed(client, team.ada_key) == []
    assert await _listed(client, team.ada_key, owned="previously") == [cid]
    assert await _listed(client, team.bob_key) == [cid]
    assert await _listed(client, team.bob_key, owned="previously") == []

    before = await _state(sessions, cid)
    for method, path, body in [
        ("POST", f"{base}/accept", None),
        ("POST", f"{base}/decline", None),
        ("POST", f"{base}/resolve", {"reason": "done"}),
        ("POST", f"{base}/reopen", None),
        ("POST", f"{base}/transfer", {"queue_id": str(team.default_queue)}),
        ("POST", f"{base}/notes", {"text": "still mine?"}),
        ("POST", f"{base}/replies", {"text": "hello again"}),
    ]:
        response = await client.request(method, path, headers=ada, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await _state(sessions, cid) == before

    # An offer alone is no ownership: Bob, having declined, no longer sees it.
    assert (await client.post(f"{base}/decline", headers=bob)).status_code == 200
    assert (await client.get(base, headers=bob)).status_code == 404
    assert await _listed(client, team.bob_key, owned="previously") == []
    assert (await client.get(base, headers=ada)).status_code == 200

    # A supervisor gives it to Bob as accepted work; he resolves it and is its last owner.
    supervisor = bearer(team.supervisor_key)
    assigned = await client.post(
        f"{base}/assign", headers=supervisor, json={"agent_id": str(team.bob)}
    )
    assert assigned.status_code == 200, assigned.text
    resolved = await client.post(f"{base}/resolve", headers=bob, json={"reason": "paid"})
    assert resolved.status_code == 200, resolved.text
    assert await _listed(client, team.bob_key, status="resolved") == [cid]
    assert await _listed(client, team.ada_key, status="resolved") == []
    assert await _listed(client, team.ada_key, status="resolved", owned="previously") == [cid]
    assert (await client.get(base, headers=ada)).status_code == 200
    # Reopening is the last owner's: Ada may read it, not reopen it.
    assert (await client.post(f"{base}/reopen", headers=ada)).status_code == 404

    # Supervisors see everything whichever list they ask for.
    assert await _listed(client, team.supervisor_key, status="resolved", owned="previously") == [
        cid
    ]


async def test_an_unknown_ownership_filter_is_a_problem_naming_it(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await client.get(
        "/v1/conversations", headers=bearer(team.ada_key), params={"owned": "ever"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "owned" in response.text
