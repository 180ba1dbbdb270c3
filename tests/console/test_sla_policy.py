"""The SLA policy through the admin API: versions, validation naming the field, roles."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import SlaPolicyVersion
from tests import seed
from tests.console.conftest import Team, bearer

VIP_FIRST: dict[str, Any] = {
    "policies": [
        {
            "name": "vip",
            "match": {"customer_tiers": ["vip"], "queues": ["vip"]},
            "targets": {"first_response": 600, "next_response": 900, "resolution": 86400},
            "calendar": "business_hours",
            "pause_while_waiting_on_customer": True,
        },
        {"name": "everyone", "targets": {"first_response": 3600}},
    ],
    "comment": "vips answered in ten minutes",
}


async def _stored_versions(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(SlaPolicyVersion)) or 0)


async def test_publish_keeps_every_version_with_its_author(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    admin = bearer(team.admin_key)
    await seed.add_queue(sessions, "vip")
    before = (await client.get("/v1/sla-policy", headers=admin)).json()
    assert (before["version"], before["policies"]) == (0, [])

    first = await client.put("/v1/sla-policy", headers=admin, json=VIP_FIRST)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert first.json()["created_by"].startswith("admin:root")
    second = await client.put(
        "/v1/sla-policy", headers=admin, json={"policies": [VIP_FIRST["policies"][1]]}
    )
    assert second.json()["version"] == 2

    active = (await client.get("/v1/sla-policy", headers=bearer(team.supervisor_key))).json()
    assert [policy["name"] for policy in active["policies"]] == ["everyone"]
    listed = (await client.get("/v1/sla-policy/versions", headers=admin)).json()
    assert [(v["version"], v["active"]) for v in listed] == [(2, True), (1, False), (0, False)]
    assert listed[1]["policies"][0]["calendar"] == "business_hours"
    assert listed[1]["comment"] == "vips answered in ten minutes"


async def test_bad_documents_name_the_field_and_change_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    admin = bearer(team.admin_key)
    everyone: dict[str, Any] = VIP_FIRST["policies"][1]
    bad = [
        ({"policies": [{"name": "x", "targets": {}}]}, "targets"),
        ({"policies": [{"name": "x", "targets": {"first_response": -5}}]}, "first_response"),
        ({"policies": [{"name": "x", "targets": {"resolution": "60"}}]}, "resolution"),
        ({"policies": [{**everyone, "calendar": "lunar"}]}, "calendar"),
        ({"policies": [{**everyone, "match": {"channels": ["fax"]}}]}, "channels"),
        ({"policies": [{**everyone, "surprise": 1}]}, "surprise"),
        ({"policies": [everyone, everyone]}, "policies[1].name"),
        ({"policies": [{**everyone, "match": {"queues": ["nowhere"]}}]}, "match.queues[0]"),
    ]
    for document, field in bad:
        answer = await client.put("/v1/sla-policy", headers=admin, json=document)
        assert answer.status_code == 422, (document, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in answer.text, (field, answer.text)
    assert await _stored_versions(sessions) == 0


async def test_only_admins_publish(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    refused = await client.put(
        "/v1/sla-policy", headers=bearer(team.supervisor_key), json=VIP_FIRST
    )
    assert refused.status_code == 403
    assert (await client.get("/v1/sla-policy", headers=bearer(team.ada_key))).status_code == 403
    assert await _stored_versions(sessions) == 0
