"""Replies on every channel reach the provider's API as the real one expects, with retries."""

from __future__ import annotations

import base64

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders
from tests.console.replies import accepted_reply, settled
from tests.factories import messenger, whatsapp


async def test_whatsapp_reply_goes_to_the_cloud_api_of_the_number_written_to(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    mid = await accepted_reply(
        client, routing_engine, team, whatsapp("Does it come in red?"), "Yes, in red."
    )
    message = await settled(app, sessions, mid)
    [request] = fake_providers.requests
    assert request.path == "/106540352242922/messages"
    assert request.headers["authorization"] == f"Bearer {providers.WHATSAPP_TOKEN}"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, in red."},
    }
    assert message.delivery_status == "sent"
    assert message.provider == "meta"
    assert (message.provider_message_id or "").startswith("wamid.")
    assert message.details["attempts"] == 1


async def test_messenger_reply_uses_the_send_api_as_a_response(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    mid = await accepted_reply(
        client, routing_engine, team, messenger("Is the shop open?"), "Until 6 pm."
    )
    message = await settled(app, sessions, mid)
    [request] = fake_providers.requests
    assert request.path == "/me/messages"
    assert request.headers["authorization"] == f"Bearer {providers.PAGE_TOKEN}"
    assert request.json() == {
        "recipient": {"id": "6789012345"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Until 6 pm."},
    }
    assert message.delivery_status == "sent"
    assert (message.provider_message_id or "").startswith("m_")


async def test_sms_reply_is_retried_through_twilio_after_server_errors(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    fake_providers.failures.extend([503, 429])
    mid = await accepted_reply(
        client, routing_engine, team, factories.sms("Where is my parcel?"), "On its way."
    )
    message = await settled(app, sessions, mid)
    assert len(fake_providers.requests) == 3
    request = fake_providers.requests[-1]
    assert request.path == f"/2010-04-01/Accounts/{providers.TWILIO_SID}/Messages.json"
    credentials = base64.b64encode(f"{providers.TWILIO_SID}:{providers.TWILIO_TOKEN}".encode())
    assert request.headers["authorization"] == f"Basic {credentials.decode()}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"To": "+14155550199", "From": "+14155550100", "Body": "On its way."}
    assert message.delivery_status == "sent"
    assert (message.provider_message_id or "").startswith("SM")
    assert message.details["attempts"] == 3


@pytest.mark.parametrize(("failures", "attempts"), [([400], 1), ([500, 500, 500, 500], 4)])
async def test_a_refused_or_persistently_failing_reply_is_marked_failed(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
    failures: list[int],
    attempts: int,
) -> None:
    app, client = api
    fake_providers.failures.extend(failures)
    mid = await accepted_reply(client, routing_engine, team, factories.sms("hello"), "Hi!")
    message = await settled(app, sessions, mid)
    assert len(fake_providers.requests) == attempts
    assert message.delivery_status == "failed"
    assert message.delivery_error is not None
    assert message.delivery_error.startswith(f"twilio answered {failures[-1]}")
    assert message.details["attempts"] == attempts


async def test_replies_on_a_channel_without_credentials_are_refused_and_not_stored(
    database_url: str,
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    from tests.support import app_client

    bare = console_settings.model_copy(update={"outbound_email_token": None})
    async with app_client(bare) as (_, client):
        await RoutingEngine(sessions, bare).process([factories.email("hi")])
        [item] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()[
            "items"
        ]
        await client.post(f"/v1/conversations/{item['id']}/accept", headers=bearer(team.ada_key))
        response = await client.post(
            f"/v1/conversations/{item['id']}/replies",
            headers=bearer(team.ada_key),
            json={"text": "hello"},
        )
    assert response.status_code == 503
    assert response.json()["type"].endswith("/reply-channel-not-configured")
    async with sessions() as session:
        outbound = await session.scalars(select(Message).where(Message.direction == "outbound"))
        assert outbound.all() == []
