"""Presence history on a real PostgreSQL: every change kept with its actor, readable, published."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Presence
from router.conversations import service
from router.db import transaction
from router.models import ConversationEvent, OutboxEvent, PresenceChange
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console.conftest import Team, bearer


async def _changes(
    sessions: async_sessionmaker[AsyncSession], agent: uuid.UUID
) -> list[PresenceChange]:
    async with sessions() as session:
        rows = await session.scalars(
            select(PresenceChange)
            .where(PresenceChange.agent_id == agent)
            .order_by(PresenceChange.id)
        )
        return list(rows.all())


async def _presence_events(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, object]]:
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all()
    documents = [(row.key, json.loads(row.value)) for row in rows]
    return [
        {"key": key.decode() if key else None, **document}
        for key, document in documents
        if document["type"] == "router.agent.presence_changed"
    ]


async def test_an_agents_own_changes_are_kept_with_them_as_actor_and_published(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    for presence in ("online", "online", "away"):  # the repeat changes nothing
        answer = await client.put(
            "/v1/me/presence", headers=bearer(team.bob_key), json={"presence": presence}
        )
        assert answer.status_code == 200, answer.text
    kept = await _changes(sessions, team.bob)
    assert [(c.from_presence, c.to_presence) for c in kept] == [
        ("offline", "online"),
        ("online", "away"),
    ]
    assert {c.actor for c in kept} == {kept[0].actor}
    assert kept[0].actor.startswith("agent:test (")
    assert all(c.reason is None for c in kept)

    events = await _presence_events(sessions)
    assert [(e["key"], e["subject"]) for e in events] == [(str(team.bob), str(team.bob))] * 2
    data = [e["data"] for e in events]
    assert [(d["from"], d["to"], d["change_id"]) for d in data] == [  # type: ignore[index]
        ("offline", "online", kept[0].id),
        ("online", "away", kept[1].id),
    ]
    assert data[0]["actor"] == kept[0].actor  # type: ignore[index]
    assert datetime.fromisoformat(str(events[1]["time"])) == kept[1].changed_at

    mine = await client.get("/v1/me/presence-history", headers=bearer(team.bob_key))
    assert mine.status_code == 200
    assert [(i["from_presence"], i["to_presence"]) for i in mine.json()["items"]] == [
        ("online", "away"),
        ("offline", "online"),
    ]
    assert mine.json()["next_cursor"] is None


async def test_an_admins_change_is_kept_with_the_admin_and_the_offers_it_takes_back(
    client: httpx.AsyncClient,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    await routing_engine.process([factories.email("hello")])
    admin = bearer(team.admin_key)
    changed = await client.put(
        f"/v1/agents/{team.ada}/presence",
        headers=admin,
        json={"presence": "offline", "reason": "left without signing off"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["presence"] == "offline"
    [change] = await _changes(sessions, team.ada)
    assert (change.from_presence, change.to_presence) == ("online", "offline")
    assert change.actor.startswith("admin:root (")
    assert change.reason == "left without signing off"
    async with sessions() as session:
        revoked = await session.scalar(
            select(ConversationEvent).where(ConversationEvent.kind == "offer_revoked")
        )
    assert revoked is not None
    assert revoked.occurred_at == change.changed_at  # one clock for the offer and the agent

    supervisor = await client.get(
        f"/v1/agents/{team.ada}/presence-history", headers=bearer(team.supervisor_key)
    )
    assert supervisor.status_code == 200
    [item] = supervisor.json()["items"]
    assert item["actor"] == change.actor
    assert item["reason"] == "left without signing off"

    # Only admins set someone else's presence; bad bodies change nothing.
    for headers in (bearer(team.supervisor_key), bearer(team.bob_key)):
        refused = await client.put(
            f"/v1/agents/{team.ada}/presence", headers=headers, json={"presence": "online"}
        )
        assert refused.status_code == 403
    for body in ({"presence": "asleep"}, {"presence": "online", "actor": "someone"}):
        bad = await client.put(f"/v1/agents/{team.ada}/presence", headers=admin, json=body)
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
    missing = await client.put(
        f"/v1/agents/{uuid.uuid4()}/presence", headers=admin, json={"presence": "online"}
    )
    assert missing.status_code == 404
    assert len(await _changes(sessions, team.ada)) == 1


async def test_the_routers_own_changes_are_kept_as_the_systems(
    console_settings: Settings, sessions: async_sessionmaker[AsyncSession], team: Team
) -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        await service.set_presence(
            session, console_settings, team.ada, Presence.AWAY, now, actor="system", reason="idle"
        )
    [change] = await _changes(sessions, team.ada)
    assert (change.actor, change.reason, change.changed_at) == ("system", "idle", now)


async def test_an_agent_reads_only_their_own_history(client: httpx.AsyncClient, team: Team) -> None:
    await client.put("/v1/me/presence", headers=bearer(team.ada_key), json={"presence": "away"})
    for path in (
        f"/v1/agents/{team.ada}/presence-history",
        f"/v1/agents/{team.bob}/presence-history",
    ):
        refused = await client.get(path, headers=bearer(team.bob_key))
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/me/presence-history", headers=bearer(team.bob_key))).json()[
        "items"
    ] == []
    keyless = await client.get("/v1/me/presence-history", headers=bearer(team.supervisor_key))
    assert keyless.status_code == 403
    unknown = await client.get(
        f"/v1/agents/{uuid.uuid4()}/presence-history", headers=bearer(team.supervisor_key)
    )
    assert unknown.status_code == 404


async def test_history_pages_newest_first_and_filters_by_time(
    client: httpx.AsyncClient,
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    start = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    presences = [Presence.AWAY, Presence.ONLINE, Presence.OFFLINE, Presence.ONLINE]
    for minute, presence in enumerate(presences):
        async with transaction(sessions) as session:
            await service.set_presence(
                session,
                console_settings,
                team.ada,
                presence,
                start + timedelta(minutes=minute),
                actor="system",
            )
    headers = bearer(team.supervisor_key)
    path = f"/v1/agents/{team.ada}/presence-history"
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 1}
    while True:
        answer = await client.get(path, headers=headers, params=params)
        assert answer.status_code == 200
        seen += [item["to_presence"] for item in answer.json()["items"]]
        following = answer.json()["next_cursor"]
        if following is None:
            break
        params = {"limit": 1, "cursor": following}
    assert seen == ["online", "offline", "online", "away"]

    window = await client.get(
        path,
        headers=headers,
        params={
            "since": (start + timedelta(minutes=1)).isoformat(),
            "until": (start + timedelta(minutes=3)).isoformat(),
        },
    )
    assert [item["changed_at"] for item in window.json()["items"]] == [
        (start + timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
        (start + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
    ]
    for params in (
        {"since": "2026-12-02T09:00:00"},
        {"since": "2026-12-02T10:00:00Z", "until": "2026-12-02T09:00:00Z"},
        {"cursor": "not-a-cursor"},
    ):
        bad = await client.get(path, headers=headers, params=params)
        assert bad.status_code == 422, params
        assert bad.headers["content-type"] == "application/problem+json"
