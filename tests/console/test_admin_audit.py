"""Administrators' changes are audited: agents, capacities, queues, API keys (from the command
line) and the routing policy, read back through `GET /v1/audit`, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.keys import create_key, revoke
from router.models import AdminAudit
from router.settings import Settings
from tests.console.conftest import Team, bearer


async def _walk(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> list[Any]:
    """Every entry the query selects, page by page (two a page)."""
    items: list[Any] = []
    cursor = ""
    while True:
        page = await client.get(f"/v1/audit?limit=2&{query}{cursor}", headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        cursor = f"&cursor={body['next_cursor']}"


async def test_changes_of_agents_queues_keys_and_the_policy_say_who_what_and_when(
    client: httpx.AsyncClient,
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = bearer(team.admin_key)
    started = datetime.now(UTC)  # after the team's keys were issued
    since = "since=" + started.isoformat().replace("+00:00", "Z")
    queue = (await client.post("/v1/queues", headers=admin, json={"name": "vip"})).json()
    await client.patch(f"/v1/queues/{queue['id']}", headers=admin, json={"priority": 7})
    cleo = (
        await client.post(
            "/v1/agents",
            headers=admin,
            json={"handle": "cleo", "display_name": "Cleo", "capacity": {"sms": 1}},
        )
    ).json()
    changed = await client.patch(
        f"/v1/agents/{cleo['id']}", headers=admin, json={"capacity": {"sms": 3, "chat": 2}}
    )
    assert changed.status_code == 200, changed.text
    put = await client.put("/v1/routing-policy", headers=admin, json={"default_queue": "default"})
    assert put.status_code == 200, put.text
    restored = await client.post(
        "/v1/routing-policy/versions/1/restore", headers=admin, json={"reason": "undo"}
    )
    assert restored.status_code == 200, restored.text
    await client.delete(f"/v1/queues/{queue['id']}", headers=admin)
    assert await create_key(console_settings, role="supervisor", name="ops", agent=None) == 0
    token = capsys.readouterr().out.strip()
    prefix = token.split("_")[1]
    assert await revoke(console_settings, prefix) == 0

    # Refused changes leave no trace.
    async with sessions() as session:
        recorded = await session.scalar(select(func.count()).select_from(AdminAudit))
    duplicate = await client.post("/v1/queues", headers=admin, json={"name": "default"})
    assert duplicate.status_code == 409
    too_low = await client.patch(
        f"/v1/agents/{cleo['id']}", headers=admin, json={"skills": {"x": 101}}
    )
    assert too_low.status_code == 422
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AdminAudit)) == recorded

    everything = await _walk(client, admin, since)
    assert [(item["action"], item["subject_kind"]) for item in everything] == [
        ("api_key.revoked", "api_key"),
        ("api_key.created", "api_key"),
        ("queue.deleted", "queue"),
        ("routing_policy.restored", "routing_policy"),
        ("routing_policy.published", "routing_policy"),
        ("agent.updated", "agent"),
        ("agent.created", "agent"),
        ("queue.updated", "queue"),
        ("queue.created", "queue"),
    ]
    by_admin = [item for item in everything if item["subject_kind"] != "api_key"]
    assert all(item["actor"].startswith("admin:root (") for item in by_admin)
    assert all(item["actor"].startswith("cli") for item in everything[:2])
    assert all(started <= datetime.fromisoformat(item["at"]) for item in everything)

    agent = await _walk(client, admin, f"subject_kind=agent&subject_id={cleo['id']}")
    assert [item["action"] for item in agent] == ["agent.updated", "agent.created"]
    assert agent[0]["before"]["capacity"] == {"sms": 1}
    assert agent[0]["after"]["capacity"] == {"chat": 2, "sms": 3}
    assert agent[1]["before"] is None
    assert agent[1]["after"]["handle"] == "cleo"

    [revoked, created] = await _walk(client, admin, f"subject_kind=api_key&subject_id={prefix}")
    assert created["after"] == {
        "role": "supervisor",
        "name": "ops",
        "agent_id": None,
        "revoked": False,
    }
    assert (revoked["before"]["revoked"], revoked["after"]["revoked"]) == (False, True)
    assert token.split("_", 2)[2] not in str(everything)  # never the secret

    [restore, publish] = await _walk(client, admin, "subject_kind=routing_policy")
    assert (publish["before"]["version"], publish["after"]["version"]) == (1, 2)
    assert restore["after"]["comment"] == "restored version 1: undo"

    queue_rows = await _walk(client, admin, f"subject_kind=queue&subject_id={queue['id']}")
    assert queue_rows[1]["before"]["priority"] == 0
    assert queue_rows[1]["after"]["priority"] == 7
    assert queue_rows[0]["after"] is None

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert await _walk(client, admin, f"since={future}") == []
    assert len(await _walk(client, admin, f"{since}&until={future}")) == len(everything)
    team_keys = await _walk(client, admin, "subject_kind=api_key")
    assert len(team_keys) == 4 + 2  # the team's four keys, issued by the tests' "test"


async def test_the_audit_is_for_admins_and_bad_queries_are_named(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = bearer(team.admin_key)
    assert (await client.get("/v1/audit", headers=bearer(team.supervisor_key))).status_code == 403
    assert (await client.get("/v1/audit")).status_code == 401
    for query, named in (
        ("cursor=not-a-cursor", "cursor"),
        ("since=2026-12-02T10:00:00", "since"),
        ("since=2026-12-02T10:00:00Z&until=2026-12-01T10:00:00Z", "since"),
        ("subject_kind=customer", "subject_kind"),
        ("limit=0", "limit"),
    ):
        refused = await client.get(f"/v1/audit?{query}", headers=admin)
        assert refused.status_code == 422, query
        assert refused.headers["content-type"] == "application/problem+json"
        assert named in refused.text, query
