"""The console shows each conversation's SLA clocks; admins choose a queue's waiting order."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.routing.engine import RoutingEngine
from tests import factories
from tests.console.conftest import Team, bearer
from tests.integration.sla_steps import publish


async def test_list_and_detail_show_the_clocks(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    await publish(sessions, {"name": "everyone", "targets": {"first_response": 600}})
    await routing_engine.process([factories.sms()])
    supervisor = bearer(team.supervisor_key)
    [item] = (await client.get("/v1/conversations", headers=supervisor)).json()["items"]
    [clock] = item["slas"]
    assert (clock["target"], clock["state"], clock["policy"]) == (
        "first_response",
        "running",
        "everyone",
    )
    assert clock["met_at"] is None

    # Ada, who was offered it, accepts and answers: the clock is met.
    ada = bearer(team.ada_key)
    await client.post(f"/v1/conversations/{item['id']}/accept", headers=ada)
    answered = await client.post(
        f"/v1/conversations/{item['id']}/replies", headers=ada, json={"text": "Hello"}
    )
    assert answered.status_code == 202, answered.text
    detail = (await client.get(f"/v1/conversations/{item['id']}", headers=supervisor)).json()
    [met] = detail["conversation"]["slas"]
    assert met["state"] == "met"
    assert met["met_at"] == answered.json()["created_at"]


async def test_admins_order_a_queue_by_sla_due(client: httpx.AsyncClient, team: Team) -> None:
    admin = bearer(team.admin_key)
    created = await client.post("/v1/queues", headers=admin, json={"name": "desk"})
    assert created.json()["order_waiting"] == "arrival"
    queue = created.json()["id"]
    changed = await client.patch(
        f"/v1/queues/{queue}", headers=admin, json={"order_waiting": "sla_due"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["order_waiting"] == "sla_due"
    for bad in ("oldest", None):
        refused = await client.patch(
            f"/v1/queues/{queue}", headers=admin, json={"order_waiting": bad}
        )
        assert refused.status_code == 422, refused.text
        assert "order_waiting" in refused.text
