"""A reply that ends failed is seen: in the history, on the events topic, by the owner's
long-poll and in the conversation; and it can be sent again."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.console.runtime import ConsoleRuntime
from router.models import OutboxEvent
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders
from tests.console.receipts import detail, reply_status
from tests.console.replies import accepted_reply, settled

REFUSAL = {
    "code": 21211,
    "message": f"Invalid 'To' number (auth {providers.TWILIO_TOKEN},"
    " see https://support.example/21211?token=s3cr3t&lang=en)",
    "status": 400,
}


async def _failed_reply(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> tuple[str, str]:
    fake_providers.failures.append(400)
    fake_providers.failure_body = REFUSAL
    engine = RoutingEngine(sessions, settings)
    mid = await accepted_reply(client, engine, team, factories.sms("hello"), "Hi!")
    await settled(app, sessions, mid)
    [item] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()["items"]
    return str(item["id"]), mid


async def test_a_refused_reply_is_recorded_published_and_shown_with_secrets_masked(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid, mid = await _failed_reply(app, client, console_settings, sessions, team, fake_providers)

    shown = await detail(client, team, cid)
    assert shown["conversation"]["failed_replies"] == 1
    [reply] = [m for m in shown["messages"]["items"] if m["id"] == mid]
    assert reply["delivery_status"] == "failed"
    [event] = [e for e in shown["events"]["items"] if e["kind"] == "reply_failed"]
    details = event["details"]
    assert (details["message_id"], details["provider"], details["status_code"]) == (
        mid,
        "twilio",
        400,
    )
    assert details["attempts"] == 1
    assert details["error"] == (
        "twilio answered 400: Invalid 'To' number (auth ***,"
        " see https://support.example/21211?token=***&lang=en)"
    )
    assert providers.TWILIO_TOKEN not in json.dumps(shown)
    assert "s3cr3t" not in json.dumps(shown)
    assert event["actor_kind"] == "system"

    async with sessions() as session:
        values = (await session.scalars(select(OutboxEvent.value))).all()
    published = [json.loads(value) for value in values]
    [failure] = [p for p in published if p["type"] == "router.conversation.reply_failed"]
    assert failure["subject"] == cid
    assert failure["data"]["details"] == details
    assert failure["data"]["change"] == "reply_failed"


async def test_the_owners_long_poll_answers_when_a_reply_fails(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    runtime: ConsoleRuntime = app.state.console
    await asyncio.wait_for(runtime.feed.listening.wait(), 10)
    fake_providers.delay_seconds = 1.5  # the provider takes its time, then refuses
    fake_providers.failures.append(400)
    await accepted_reply(client, routing_engine, team, factories.sms("hello"), "Hi!")
    before = await client.get("/v1/conversations", headers=bearer(team.ada_key))
    [item] = before.json()["items"]
    assert item["failed_replies"] == 0
    started = time.monotonic()
    woken = await client.get(
        "/v1/conversations",
        params={"wait": 20},
        headers={**bearer(team.ada_key), "If-None-Match": before.headers["etag"]},
    )
    assert woken.status_code == 200
    assert time.monotonic() - started < 10
    [changed] = woken.json()["items"]
    assert changed["failed_replies"] == 1


async def test_a_failed_reply_is_sent_again_on_request_and_only_a_failed_one(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid, mid = await _failed_reply(app, client, console_settings, sessions, team, fake_providers)
    retry = f"/v1/conversations/{cid}/replies/{mid}/retry"

    # Only the owner or a supervisor: Bob cannot even see it.
    assert (await client.post(retry, headers=bearer(team.bob_key))).status_code == 404
    response = await client.post(retry, headers=bearer(team.ada_key))
    assert response.status_code == 202, response.text
    assert response.json()["delivery_status"] == "queued"
    assert response.json()["delivery_error"] is None
    message = await settled(app, sessions, mid)
    assert (message.delivery_status, message.delivery_error) == ("sent", None)
    assert (message.provider_message_id or "").startswith("SM")
    assert len(fake_providers.requests) == 2
    assert fake_providers.requests[-1].form()["Body"] == "Hi!"

    shown = await detail(client, team, cid)
    assert shown["conversation"]["failed_replies"] == 0
    [retried] = [e for e in shown["events"]["items"] if e["kind"] == "reply_retried"]
    assert retried["details"]["message_id"] == mid
    assert retried["details"]["previous_error"].startswith("twilio answered 400")
    assert retried["actor_id"] == str(team.ada)
    assert await reply_status(client, team, cid, mid) == "sent"

    again = await client.post(retry, headers=bearer(team.supervisor_key))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert "only a failed reply" in again.json()["detail"]
    unknown = await client.post(
        f"/v1/conversations/{cid}/replies/{cid}/retry", headers=bearer(team.ada_key)
    )
    assert unknown.status_code == 404
    assert len(fake_providers.requests) == 2


async def test_a_supervisor_retries_a_reply_the_provider_never_answered(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    fake_providers.failures.extend([503, 503, 503, 503])
    mid = await accepted_reply(client, routing_engine, team, factories.sms("hello"), "Hi!")
    failed = await settled(app, sessions, mid)
    assert failed.delivery_status == "failed"
    [item] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()["items"]
    shown = await detail(client, team, item["id"])
    [event] = [e for e in shown["events"]["items"] if e["kind"] == "reply_failed"]
    assert (event["details"]["status_code"], event["details"]["attempts"]) == (503, 4)
    response = await client.post(
        f"/v1/conversations/{item['id']}/replies/{mid}/retry",
        headers=bearer(team.supervisor_key),
    )
    assert response.status_code == 202, response.text
    assert (await settled(app, sessions, mid)).delivery_status == "sent"
