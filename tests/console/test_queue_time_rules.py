"""Queues' time rules through the admin API, and the owner's reply stopping the reply clock."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import in_transaction
from router.inbound.envelope import utcnow
from router.models import Conversation, ConversationEvent
from router.routing.engine import RoutingEngine
from router.routing.overdue import move_overdue
from router.settings import Settings
from tests import factories
from tests.console.conftest import Team, bearer
from tests.console.replies import accepted_reply


async def test_admin_sets_the_time_rules_and_gets_the_defaults_otherwise(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = bearer(team.admin_key)
    plain = await client.post("/v1/queues", headers=admin, json={"name": "plain"})
    assert plain.status_code == 201, plain.text
    assert {
        key: plain.json()[key]
        for key in (
            "on_owner_away",
            "owner_away_grace_seconds",
            "reply_time_seconds",
            "on_no_reply",
            "max_wait_seconds",
        )
    } == {
        "on_owner_away": "keep",
        "owner_away_grace_seconds": None,
        "reply_time_seconds": None,
        "on_no_reply": "flag",
        "max_wait_seconds": None,
    }
    strict = await client.post(
        "/v1/queues",
        headers=admin,
        json={
            "name": "strict",
            "on_owner_away": "requeue_after",
            "owner_away_grace_seconds": 300,
            "reply_time_seconds": 600,
            "on_no_reply": "next_agent",
            "max_wait_seconds": 900,
            "overflow_queue_id": plain.json()["id"],
        },
    )
    assert strict.status_code == 201, strict.text
    body = strict.json()
    assert (body["on_owner_away"], body["owner_away_grace_seconds"]) == ("requeue_after", 300)
    assert (body["reply_time_seconds"], body["on_no_reply"]) == (600, "next_agent")
    assert body["max_wait_seconds"] == 900

    # Back to `keep`: the grace period goes with it; a limit is cleared with null.
    kept = await client.patch(
        f"/v1/queues/{body['id']}",
        headers=admin,
        json={"on_owner_away": "keep", "reply_time_seconds": None},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["owner_away_grace_seconds"] is None
    assert kept.json()["reply_time_seconds"] is None
    assert kept.json()["on_no_reply"] == "next_agent"  # absent fields stay


async def test_time_rules_that_make_no_sense_are_refused_and_change_nothing(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = bearer(team.admin_key)
    queue = await client.post("/v1/queues", headers=admin, json={"name": "q"})
    url = f"/v1/queues/{queue.json()['id']}"
    refusals = [
        ({"on_owner_away": "requeue_after"}, "owner_away_grace_seconds"),
        ({"owner_away_grace_seconds": 60}, "owner_away_grace_seconds"),
        ({"max_wait_seconds": 60}, "max_wait_seconds"),
        ({"reply_time_seconds": 0}, "reply_time_seconds"),
        ({"reply_time_seconds": "60"}, "reply_time_seconds"),
        ({"on_no_reply": "shout"}, "on_no_reply"),
        ({"on_no_reply": None}, "on_no_reply"),
        ({"on_owner_away": None}, "on_owner_away"),
    ]
    for body, field in refusals:
        refused = await client.patch(url, headers=admin, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert field in refused.text, (body, refused.text)
    created = await client.post(
        "/v1/queues",
        headers=admin,
        json={"name": "q2", "on_owner_away": "requeue_after"},
    )
    assert created.status_code == 422
    assert "owner_away_grace_seconds" in created.text
    after = (await client.get(url, headers=admin)).json()
    assert after == queue.json()
    names = [item["name"] for item in (await client.get("/v1/queues", headers=admin)).json()]
    assert "q2" not in names


async def test_the_owner_s_reply_stops_the_clock_and_the_next_message_starts_it(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    admin = bearer(team.admin_key)
    await client.patch(
        f"/v1/queues/{team.default_queue}", headers=admin, json={"reply_time_seconds": 60}
    )
    await accepted_reply(
        client, routing_engine, team, factories.sms("hi"), "Hello! Looking into it."
    )

    async def sweep_after(seconds: int) -> int:
        later = utcnow() + timedelta(seconds=seconds)
        return await in_transaction(sessions, lambda s: move_overdue(s, console_settings, later))

    async with sessions() as session:
        [answered] = (await session.scalars(select(Conversation))).all()
    assert answered.awaiting_reply_since is None
    assert await sweep_after(3600) == 0

    await routing_engine.process([factories.sms("thanks, any news?")])
    assert await sweep_after(30) == 0
    assert await sweep_after(61) == 1
    async with sessions() as session:
        kinds = (
            await session.scalars(
                select(ConversationEvent.kind).where(
                    ConversationEvent.conversation_id == answered.id
                )
            )
        ).all()
    assert list(kinds).count("reply_overdue") == 1
