"""The routing policy's history from version 1, restoring a version, and dry runs that
change nothing, on the real app and database."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import seed
from tests.console.conftest import Team, bearer

_TABLES = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name
"""


# Each row as JSON, less when its API key was last used (every authenticated call may write
# that, which is the caller's doing, not the endpoint's).
_ROW = "(to_jsonb(t) - 'last_used_at')::text"


async def _every_row(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A fingerprint of every table's rows: equal fingerprints, nothing changed."""
    async with sessions() as session:
        tables = (await session.scalars(text(_TABLES))).all()
        fingerprints = {}
        for table in tables:
            found = await session.scalar(
                text(
                    f"SELECT count(*) || ':' || coalesce(md5(string_agg({_ROW}, ','"
                    f" ORDER BY {_ROW})), '') FROM {table} AS t"
                )
            )
            fingerprints[table] = str(found)
    assert "admin_audit" in fingerprints
    assert "conversations" in fingerprints
    return fingerprints


VIP_POLICY = {
    "default_queue": "default",
    "rules": [
        {
            "name": "vip texts",
            "channels": ["sms"],
            "customer_attributes": {"vip": True},
            "queue": "vip",
            "priority": 5,
        },
    ],
    "comment": "vips first",
}


async def test_versions_start_at_the_built_in_one_and_a_restore_makes_a_new_version(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    admin = bearer(team.admin_key)
    await seed.add_queue(sessions, "vip")
    [built_in] = (await client.get("/v1/routing-policy/versions", headers=admin)).json()
    assert (built_in["version"], built_in["active"], built_in["created_by"]) == (
        1,
        True,
        "built-in",
    )
    assert built_in["policy"]["rules"] == []

    published = await client.put("/v1/routing-policy", headers=admin, json=VIP_POLICY)
    assert published.status_code == 200, published.text
    restored = await client.post(
        "/v1/routing-policy/versions/1/restore",
        headers=admin,
        json={"reason": "vip queue is unstaffed tonight"},
    )
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["version"], body["active"]) == (3, True)
    assert body["policy"]["rules"] == []
    assert body["policy"]["default_queue"] == "default"
    assert body["created_by"].startswith("admin:root (")
    assert body["comment"] == "restored version 1: vip queue is unstaffed tonight"

    again = await client.post(
        "/v1/routing-policy/versions/2/restore", headers=admin, json={"reason": "staffed again"}
    )
    assert again.json()["policy"]["rules"] == published.json()["policy"]["rules"]
    versions = (await client.get("/v1/routing-policy/versions", headers=admin)).json()
    assert [(v["version"], v["active"]) for v in versions] == [
        (4, True),
        (3, False),
        (2, False),
        (1, False),
    ]
    page = (await client.get("/v1/routing-policy/versions?limit=2", headers=admin)).json()
    assert [v["version"] for v in page] == [4, 3]

    before = await _every_row(sessions)
    for path, payload, status in (
        ("/v1/routing-policy/versions/99/restore", {"reason": "x"}, 404),
        ("/v1/routing-policy/versions/2/restore", {}, 422),
        ("/v1/routing-policy/versions/0/restore", {"reason": "x"}, 422),
        ("/v1/routing-policy/versions/2/restore", {"reason": "x", "version": 9}, 422),
    ):
        refused = await client.post(path, headers=admin, json=payload)
        assert refused.status_code == status, (path, payload, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    supervisor = await client.post(
        "/v1/routing-policy/versions/2/restore",
        headers=bearer(team.supervisor_key),
        json={"reason": "x"},
    )
    assert supervisor.status_code == 403
    assert await _every_row(sessions) == before


async def test_a_dry_run_answers_rule_queue_and_agents_and_changes_nothing(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    supervisor = bearer(team.supervisor_key)
    vip = await seed.add_queue(sessions, "vip")
    cleo = await seed.add_agent(sessions, "cleo", capacity={"sms": 1}, queues=[vip])
    before = await _every_row(sessions)

    active = await client.post(
        "/v1/routing-policy/dry-run",
        headers=supervisor,
        json={"channel": "sms", "recipient": "+14155550100", "text": "where is my order"},
    )
    assert active.status_code == 200, active.text
    assert active.json() == {
        "policy_version": 1,
        "rule": "default",
        "queue": "default",
        "overflow_from": None,
        "priority": 0,
        "outcome": "offer",
        "agent_id": str(team.ada),
        "reason": "least loaded",
        "candidates": {
            "eligible (0/2 on sms)": [str(team.ada)],
            "does not serve queue default": [str(cleo)],
        },
    }

    draft = {k: v for k, v in VIP_POLICY.items() if k != "comment"}
    vip_sample = {"channel": "sms", "customer_attributes": {"vip": True}, "policy": draft}
    tried = await client.post("/v1/routing-policy/dry-run", headers=supervisor, json=vip_sample)
    assert tried.status_code == 200, tried.text
    answer = tried.json()
    assert (answer["policy_version"], answer["rule"], answer["queue"]) == (None, "vip texts", "vip")
    assert (answer["priority"], answer["agent_id"]) == (5, str(cleo))
    assert answer["candidates"] == {
        "does not serve queue vip": [str(team.ada)],
        "eligible (0/1 on sms)": [str(cleo)],
    }

    # Nobody free (nobody takes calls): the answer is a wait, with every verdict.
    on_voice = await client.post(
        "/v1/routing-policy/dry-run", headers=supervisor, json={"channel": "voice"}
    )
    assert (on_voice.json()["outcome"], on_voice.json()["agent_id"]) == ("wait", None)
    assert on_voice.json()["reason"] == "no eligible agent"

    for payload in (
        {"channel": "pigeon"},
        {"channel": "sms", "customer_attributes": {"vip": [1]}},
        {"channel": "sms", "policy": {**draft, "default_queue": "nowhere"}},
        {"channel": "sms", "surprise": 1},
    ):
        refused = await client.post("/v1/routing-policy/dry-run", headers=supervisor, json=payload)
        assert refused.status_code == 422, (payload, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    agent = await client.post(
        "/v1/routing-policy/dry-run", headers=bearer(team.ada_key), json={"channel": "sms"}
    )
    assert agent.status_code == 403
    assert await _every_row(sessions) == before
