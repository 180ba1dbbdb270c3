"""Offers' explanations read back through `GET /v1/conversations/{id}`: the arrival's, and
the drain's after a decline and an agent coming online, on the real app and database."""

from __future__ import annotations

import asyncio

import httpx

from router.routing.engine import RoutingEngine
from tests import factories
from tests.console.conftest import Team, bearer


async def _offers(client: httpx.AsyncClient, token: str, cid: str) -> list[dict[str, object]]:
    detail = await client.get(f"/v1/conversations/{cid}", headers=bearer(token))
    assert detail.status_code == 200, detail.text
    return [e for e in detail.json()["events"]["items"] if e["kind"] == "offered"]


async def test_the_history_in_the_api_explains_each_offer(
    client: httpx.AsyncClient,
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    await routing_engine.process([factories.sms("help")])
    [item] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()["items"]
    cid = item["id"]
    [arrival] = await _offers(client, team.supervisor_key, cid)
    assert arrival["agent_id"] == str(team.ada)
    assert arrival["details"]["path"] == "arrival"
    assert arrival["details"]["rule"] == "default"
    assert arrival["details"]["queue"] == "default"
    assert arrival["details"]["candidates"] == {"eligible (0/2 on sms)": [str(team.ada)]}

    declined = await client.post(f"/v1/conversations/{cid}/decline", headers=bearer(team.ada_key))
    assert declined.status_code == 200, declined.text
    online = await client.put(
        "/v1/me/presence", headers=bearer(team.bob_key), json={"presence": "online"}
    )
    assert online.status_code == 200, online.text
    offers = await _offers(client, team.supervisor_key, cid)
    for _ in range(100):  # the drain runs once the presence change has committed
        if len(offers) == 2:
            break
        await asyncio.sleep(0.05)
        offers = await _offers(client, team.supervisor_key, cid)
    drained = next(offer for offer in offers if offer["agent_id"] == str(team.bob))
    details = drained["details"]
    assert isinstance(details, dict)
    assert (details["path"], details["rule"], details["queue"]) == ("drain", "default", "default")
    assert details["agent_id"] == str(team.bob)
    [excluded] = [verdict for verdict in details["candidates"] if verdict.startswith("excluded")]
    assert details["candidates"] == {
        excluded: [str(team.ada)],
        "eligible (0/2 on sms)": [str(team.bob)],
    }
    assert excluded.startswith("excluded: declined until ")
