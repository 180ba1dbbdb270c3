"""WhatsApp's 24-hour window: free text inside it, approved templates at any time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel, IdentityKind
from router.inbound.envelope import CustomerIdentity, InboundMessage
from router.models import Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders
from tests.console.replies import accepted, settled
from tests.support import app_client, refusal

ORDER_DELAYED = {"name": "order_delayed", "language": "en", "parameters": ["A-1042", "Friday"]}


def whatsapp(hours_ago: float, *, provider: str = "meta") -> InboundMessage:
    """A customer's WhatsApp message, sent `hours_ago` (the provider's timestamp)."""
    line, conversation_key = "106540352242922", "whatsapp:106540352242922|16505551234"
    if provider == "twilio":
        line, conversation_key = "+14155550100", "whatsapp:+16505551234|+14155550100"
    return InboundMessage(
        channel=Channel.WHATSAPP,
        provider=provider,
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        conversation_key=conversation_key,
        customer=CustomerIdentity(kind=IdentityKind.WHATSAPP, value="+16505551234"),
        recipient=line,
        text="Where is my order?",
        stripped_text="Where is my order?",
        provider_timestamp=datetime.now(UTC) - timedelta(hours=hours_ago),
    )


async def outbound(sessions: async_sessionmaker[AsyncSession]) -> list[Message]:
    async with sessions() as session:
        return list(
            (await session.scalars(select(Message).where(Message.direction == "outbound"))).all()
        )


async def test_free_text_after_the_window_is_refused_before_anything_is_stored(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    _, client = api
    cid = await accepted(client, routing_engine, team.ada_key, whatsapp(25))
    response = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": "Hello"}
    )
    problem = refusal(response, 409, "whatsapp-window-closed")
    assert "24-hour customer-service window closed at" in problem["detail"]
    closed_at = datetime.fromisoformat(problem["window_closed_at"])
    expected = datetime.now(UTC) - timedelta(hours=1)
    assert abs((closed_at - expected).total_seconds()) < 60
    assert await outbound(sessions) == []
    assert fake_providers.requests == []


async def test_free_text_inside_the_window_is_sent(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid = await accepted(client, routing_engine, team.ada_key, whatsapp(23.5))
    response = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": "Hello"}
    )
    assert response.status_code == 202, response.text
    message = await settled(app, sessions, response.json()["id"])
    assert message.delivery_status == "sent"
    assert fake_providers.requests[0].json()["type"] == "text"


async def test_a_template_goes_out_after_the_window_through_the_cloud_api(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid = await accepted(client, routing_engine, team.ada_key, whatsapp(30))
    response = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"template": ORDER_DELAYED},
    )
    assert response.status_code == 202, response.text
    assert response.json()["template"] == ORDER_DELAYED
    assert response.json()["text"] == "[template order_delayed (en)] A-1042 | Friday"
    message = await settled(app, sessions, response.json()["id"])
    [request] = fake_providers.requests
    assert request.path == "/106540352242922/messages"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "template",
        "template": {
            "name": "order_delayed",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "A-1042"},
                        {"type": "text", "text": "Friday"},
                    ],
                }
            ],
        },
    }
    assert message.delivery_status == "sent"
    assert message.kind == "template"
    assert message.details["template"] == ORDER_DELAYED
    detail = (await client.get(f"/v1/conversations/{cid}", headers=bearer(team.ada_key))).json()
    [shown] = [item for item in detail["messages"]["items"] if item["direction"] == "outbound"]
    assert shown["template"] == ORDER_DELAYED


async def test_a_template_through_twilio_is_its_content_template_with_variables(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    configured = console_settings.model_copy(
        update={"outbound_twilio_content_sids": {"order_delayed:en": "HX0123456789abcdef"}}
    )
    engine = RoutingEngine(sessions, configured)
    async with app_client(configured) as (app, client):
        cid = await accepted(client, engine, team.ada_key, whatsapp(48, provider="twilio"))
        response = await client.post(
            f"/v1/conversations/{cid}/replies",
            headers=bearer(team.ada_key),
            json={"template": ORDER_DELAYED},
        )
        assert response.status_code == 202, response.text
        message = await settled(app, sessions, response.json()["id"])
    [request] = fake_providers.requests
    assert request.path == f"/2010-04-01/Accounts/{providers.TWILIO_SID}/Messages.json"
    form = request.form()
    assert form == {
        "To": "whatsapp:+16505551234",
        "From": "whatsapp:+14155550100",
        "ContentSid": "HX0123456789abcdef",
        "ContentVariables": form["ContentVariables"],
    }
    assert json.loads(form["ContentVariables"]) == {"1": "A-1042", "2": "Friday"}
    assert message.delivery_status == "sent"


async def test_a_template_twilio_has_no_content_for_fails_naming_the_setting(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid = await accepted(client, routing_engine, team.ada_key, whatsapp(1, provider="twilio"))
    response = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"template": ORDER_DELAYED},
    )
    assert response.status_code == 202, response.text
    message = await settled(app, sessions, response.json()["id"])
    assert message.delivery_status == "failed"
    assert "ROUTER_OUTBOUND_TWILIO_CONTENT_SIDS" in (message.delivery_error or "")
    assert fake_providers.requests == []


async def test_templates_are_refused_off_whatsapp_and_text_or_template_is_required(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    cid = await accepted(client, routing_engine, team.ada_key, factories.sms("hello"))
    url = f"/v1/conversations/{cid}/replies"
    refused = await client.post(url, headers=bearer(team.ada_key), json={"template": ORDER_DELAYED})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("template:")
    for body in ({"text": "hi", "template": ORDER_DELAYED}, {}, {"template": {"name": "x"}}):
        response = await client.post(url, headers=bearer(team.ada_key), json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    assert await outbound(sessions) == []
