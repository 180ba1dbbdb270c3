"""Conversations the company starts: owned from the first message, joined by the answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.channels.email.parsing import Mailbox, ParsedEmail, Threading, inbound_message
from router.models import AgentCapacity, Conversation, Customer, Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.adapters import meta_requests as meta
from tests.adapters.channel_requests import twilio_signed
from tests.adapters.twilio_requests import CUSTOMER, LINE, sms_params
from tests.console import providers
from tests.console.conftest import Team, bearer, inline_settings
from tests.console.providers import FakeProviders
from tests.console.replies import settled
from tests.support import app_client, conversation_events

TEMPLATE = {"name": "order_delayed", "language": "en", "parameters": ["A-1042"]}


@pytest.fixture
async def inline(console_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on the inline transport: a signed webhook is routed before it is answered."""
    async with app_client(inline_settings(console_settings, "meta_app_secret")) as running:
        yield running


async def start(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post("/v1/conversations", headers=bearer(key), json=body)


async def history(sessions: async_sessionmaker[AsyncSession], cid: str) -> list[tuple[str, ...]]:
    events = await conversation_events(sessions, uuid.UUID(cid))
    return [(e.kind, e.actor_kind, e.reason) for e in events]


async def active_sms(sessions: async_sessionmaker[AsyncSession], agent: uuid.UUID) -> int:
    async with sessions() as session:
        active = await session.scalar(
            select(AgentCapacity.active).where(
                AgentCapacity.agent_id == agent, AgentCapacity.channel == "sms"
            )
        )
    assert active is not None
    return active


async def messages(sessions: async_sessionmaker[AsyncSession], cid: str) -> list[Message]:
    async with sessions() as session:
        found = await session.scalars(
            select(Message)
            .where(Message.conversation_id == uuid.UUID(cid))
            .order_by(Message.created_at)
        )
        return list(found.all())


async def test_an_sms_the_agent_starts_is_theirs_and_the_customers_answer_joins_it(
    inline: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = inline
    response = await start(
        client,
        team.ada_key,
        channel="sms",
        customer={"identity": {"kind": "phone", "value": CUSTOMER, "display_name": "Sam"}},
        sender=LINE,
        message={"text": "Your parcel is ready for collection."},
    )
    assert response.status_code == 201, response.text
    started = response.json()
    cid = started["conversation"]["id"]
    assert started["conversation"]["agent_id"] == str(team.ada)
    assert started["conversation"]["offer_state"] == "accepted"
    assert started["conversation"]["queue_id"] == str(team.default_queue)
    sent = await settled(app, sessions, started["message"]["id"])
    assert sent.delivery_status == "sent"
    [request] = fake_providers.requests
    assert request.path == f"/2010-04-01/Accounts/{providers.TWILIO_SID}/Messages.json"
    assert request.form() == {
        "To": CUSTOMER,
        "From": LINE,
        "Body": "Your parcel is ready for collection.",
        "StatusCallback": "https://router.example.test/webhooks/twilio/sms/status",
    }
    assert await active_sms(sessions, team.ada) == 1
    assert await history(sessions, cid) == [
        ("created", "agent", "outreach"),
        ("accepted", "agent", "outreach"),
    ]

    params = sms_params(MessageSid="SM" + uuid.uuid4().hex, Body="Great, coming at 5.")
    body, headers = twilio_signed("/webhooks/twilio/sms", params, token=providers.TWILIO_TOKEN)
    answered = await client.post("/webhooks/twilio/sms", content=body, headers=headers)
    assert answered.status_code == 200, answered.text
    found = await messages(sessions, cid)
    assert [(m.direction, m.text) for m in found] == [
        ("outbound", "Your parcel is ready for collection."),
        ("inbound", "Great, coming at 5."),
    ]
    async with sessions() as session:
        conversation = await session.get(Conversation, uuid.UUID(cid))
        assert conversation is not None
        assert (conversation.agent_id, conversation.offer_state) == (team.ada, "accepted")
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1
    assert await active_sms(sessions, team.ada) == 1


async def test_a_whatsapp_conversation_opens_with_a_template_and_the_answer_joins_it(
    inline: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = inline
    base = {
        "channel": "whatsapp",
        "customer": {"identity": {"kind": "whatsapp", "value": "+16505551234"}},
        "sender": meta.LINE,
    }
    refused = await start(client, team.ada_key, **base, message={"text": "Hi"})
    assert refused.status_code == 422
    response = await start(client, team.ada_key, **base, message={"template": TEMPLATE})
    assert response.status_code == 201, response.text
    cid = response.json()["conversation"]["id"]
    await settled(app, sessions, response.json()["message"]["id"])
    [request] = fake_providers.requests
    assert request.path == f"/{meta.LINE}/messages"
    assert request.json()["to"] == "16505551234"
    assert request.json()["template"]["name"] == "order_delayed"

    # Until the customer writes, free text is refused: WhatsApp has opened no window.
    text = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": "Hi"}
    )
    assert text.status_code == 409
    assert text.json()["type"].endswith("/whatsapp-window-closed")

    answer = meta.wa_message("text", 1, text={"body": "Thanks!"})
    answer["timestamp"] = str(int(time.time()))
    body = meta.encoded(meta.whatsapp(meta.wa_value(messages=[answer])))
    assert (await meta.post(client, body)).status_code == 200
    found = await messages(sessions, cid)
    assert [m.direction for m in found] == ["outbound", "inbound"]
    # Now the window is open and the agent writes freely, in the same conversation.
    reply = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": "Hi"}
    )
    assert reply.status_code == 202, reply.text


async def test_an_email_conversation_is_threaded_so_the_customers_reply_joins_it(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    response = await start(
        client,
        team.ada_key,
        channel="email",
        customer={"identity": {"kind": "email", "value": "sam@example.org"}},
        sender="support@Example.COM",
        message={"subject": "Your invoice", "text": "Please find it attached."},
    )
    assert response.status_code == 201, response.text
    cid, mid = response.json()["conversation"]["id"], response.json()["message"]["id"]
    await settled(app, sessions, mid)
    [request] = fake_providers.requests
    sent = request.json()
    assert sent["Subject"] == "Your invoice"
    assert sent["To"] == "sam@example.org"
    [message_id] = [h["Value"] for h in sent["Headers"] if h["Name"] == "Message-ID"]
    # Our Message-IDs are kept in one form, lower case: the reply's References match it.
    assert message_id == f"<{mid}@example.com>"

    answer = inbound_message(
        "postmark",
        ParsedEmail(
            sender=Mailbox("sam@example.org", "Sam"),
            recipient="support@example.com",
            subject="Re: Your invoice",
            text="Thanks, got it.",
            thread=Threading.from_headers(
                {
                    "Message-ID": "<reply-1@example.org>",
                    "In-Reply-To": message_id,
                    "References": message_id,
                }.get
            ),
        ),
    )
    await routing_engine.process([answer])
    assert [m.direction for m in await messages(sessions, cid)] == ["outbound", "inbound"]


async def test_an_agent_without_a_free_slot_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    for n in range(2):
        response = await start(
            client,
            team.ada_key,
            channel="sms",
            customer={"identity": {"kind": "phone", "value": f"+1202555017{n}"}},
            sender=LINE,
            message={"text": "Hello"},
        )
        assert response.status_code == 201, response.text
    full = await start(
        client,
        team.ada_key,
        channel="sms",
        customer={"identity": {"kind": "phone", "value": "+12025550179"}},
        sender=LINE,
        message={"text": "Hello"},
    )
    assert full.status_code == 409
    assert full.headers["content-type"] == "application/problem+json"
    assert "no free capacity on sms" in full.json()["detail"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 2
        assert await session.scalar(select(func.count()).select_from(Customer)) == 2
    assert await active_sms(sessions, team.ada) == 2


async def test_a_supervisor_names_the_owner_or_leaves_it_to_the_queue(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    common: dict[str, Any] = {
        "channel": "sms",
        "sender": LINE,
        "message": {"text": "We have news about your order."},
    }
    owned = await start(
        client,
        team.supervisor_key,
        **common,
        customer={"identity": {"kind": "phone", "value": "+12025550171"}},
        agent_id=str(team.bob),
    )
    assert owned.status_code == 201, owned.text
    assert owned.json()["conversation"]["agent_id"] == str(team.bob)
    assert await history(sessions, owned.json()["conversation"]["id"]) == [
        ("created", "supervisor", "outreach"),
        ("accepted", "supervisor", "outreach"),
    ]
    queued = await start(
        client,
        team.supervisor_key,
        **common,
        customer={"id": owned.json()["conversation"]["id"]},
        queue_id=str(team.default_queue),
    )
    assert queued.status_code == 422  # a conversation's id is no customer's
    async with sessions() as session:
        customer = await session.scalar(select(Conversation.customer_id))
    queued = await start(
        client,
        team.supervisor_key,
        **{**common, "sender": "+13125550149"},
        customer={"id": str(customer)},
        queue_id=str(team.default_queue),
    )
    assert queued.status_code == 201, queued.text
    assert queued.json()["conversation"]["agent_id"] is None
    cid = queued.json()["conversation"]["id"]
    # Routed like an arrival: the drain after the commit offers it to the online agent.
    async with sessions() as session:
        conversation = await session.get(Conversation, uuid.UUID(cid))
        assert conversation is not None
        assert (conversation.agent_id, conversation.offer_state) == (team.ada, "offered")
    kinds = [kind for kind, _, _ in await history(sessions, cid)]
    assert kinds[:2] == ["created", "queued"]
    assert "offered" in kinds

    # The same customer on the same line while that conversation is open: reply there.
    again = await start(
        client,
        team.ada_key,
        **common,
        customer={"identity": {"kind": "phone", "value": "+12025550171"}},
    )
    assert again.status_code == 409
    assert again.json()["conversation_id"] == owned.json()["conversation"]["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "sms", "message": {"text": "x"}, "sender": "nope"}, "sender"),
        ({"channel": "email", "message": {"text": "no subject"}, "sender": "a@b.c"}, "subject"),
        ({"channel": "sms", "message": {"template": TEMPLATE}, "sender": LINE}, "WhatsApp"),
        ({"channel": "voice", "message": {"text": "x"}, "sender": LINE}, "channel"),
        ({"channel": "whatsapp", "message": {"template": TEMPLATE}, "sender": LINE}, "sender"),
    ],
)
async def test_bad_requests_are_refused_naming_what_is_wrong(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await start(
        client,
        team.ada_key,
        **body,
        customer={"identity": {"kind": "phone", "value": CUSTOMER}},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0
