"""Delivery news of the email we send, from each provider's signed webhook to the reply's row."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.topics import ensure_topics
from router.inbound.envelope import DeliveryUpdate
from router.models import Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.adapters.channel_requests import nothing_published
from tests.adapters.conftest import Inbound
from tests.adapters.email_requests import mailgun_event, sendgrid_event_headers
from tests.console.conftest import Team
from tests.console.mail_servers import POSTMARK_TOKEN, MailServers
from tests.email.conftest import POSTMARK_EVENTS_TOKEN
from tests.email.customer import CustomerMail, post_mailgun, post_postmark, post_sendgrid
from tests.email.thread import Post, Thread
from tests.support import app_client

FIRST = CustomerMail(
    message_id="<CAF-delivery.1@mail.example.net>", subject="Invoice", text="Where is it?"
)


def _auth(password: str) -> dict[str, str]:
    token = base64.b64encode(f"postmark:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


@pytest.fixture
def postmark_too(email_settings: Settings, mail_servers: MailServers) -> Settings:
    """Postmark sends as well, so mail that came in through Postmark is answered there."""
    return email_settings.model_copy(
        update={
            "outbound_email_base_url": mail_servers.base_url,
            "outbound_email_token": SecretStr(POSTMARK_TOKEN),
        }
    )


async def _sent_reply(
    settings: Settings,
    api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    inbound: Inbound,
    servers: MailServers,
    team: Team,
    post: Post,
) -> tuple[Thread, Message]:
    app, client = api
    thread = Thread(
        app, client, RoutingEngine(sessions, settings), inbound, sessions, servers, team
    )
    await thread.customer_writes(post, FIRST)
    _, stored = await thread.ada_replies("It is attached to your account.")
    return thread, stored


async def _row(sessions: async_sessionmaker[AsyncSession], stored: Message) -> Message:
    async with sessions() as session:
        found = await session.scalar(select(Message).where(Message.id == stored.id))
    assert found is not None
    return found


async def test_postmark_delivery_open_and_bounce_reach_the_reply(
    postmark_too: Settings,
    sessions: async_sessionmaker[AsyncSession],
    mail_servers: MailServers,
    team: Team,
) -> None:
    inbound = Inbound(postmark_too)
    await ensure_topics(postmark_too)
    async with app_client(postmark_too) as api:
        thread, stored = await _sent_reply(
            postmark_too, api, sessions, inbound, mail_servers, team, post_postmark
        )
        assert stored.provider == "postmark"
        client = api[1]
        url = "/webhooks/email/postmark/events"
        delivery = {
            "RecordType": "Delivery",
            "MessageID": stored.provider_message_id,
            "Recipient": "maria@example.net",
            "DeliveredAt": "2026-12-02T09:01:00Z",
            "Details": "Test delivery webhook details",
            "Tag": "",
            "ServerID": 23,
            "Metadata": {},
            "MessageStream": "outbound",
        }
        response = await client.post(
            url, content=json.dumps(delivery), headers=_auth(POSTMARK_EVENTS_TOKEN)
        )
        assert response.status_code == 200, response.text
        [update] = await thread.routed(1)
        assert isinstance(update, DeliveryUpdate)
        assert (await _row(sessions, stored)).delivery_status == "delivered"

        opened = {
            "RecordType": "Open",
            "MessageID": stored.provider_message_id,
            "ReceivedAt": "2026-12-02T09:05:00Z",
        }
        await client.post(url, content=json.dumps(opened), headers=_auth(POSTMARK_EVENTS_TOKEN))
        await thread.routed(1)
        assert (await _row(sessions, stored)).delivery_status == "read"

        bounce = {
            "RecordType": "Bounce",
            "ID": 4323372036854775807,
            "Type": "HardBounce",
            "TypeCode": 1,
            "MessageID": stored.provider_message_id,
            "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
            "Email": "maria@example.net",
            "BouncedAt": "2026-12-02T09:10:00Z",
        }
        await client.post(url, content=json.dumps(bounce), headers=_auth(POSTMARK_EVENTS_TOKEN))
        await thread.routed(1)
        row = await _row(sessions, stored)
        assert row.delivery_status == "failed"
        assert (row.delivery_error or "").startswith("HardBounce: The server was unable")

        # A delayed delivery is no failure; wrong credentials change nothing.
        transient = {**bounce, "Type": "Transient"}
        assert (
            await client.post(
                url, content=json.dumps(transient), headers=_auth(POSTMARK_EVENTS_TOKEN)
            )
        ).status_code == 200
        refused = await client.post(url, content=json.dumps(delivery), headers=_auth("wrong"))
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        await nothing_published_after(thread)


async def nothing_published_after(thread: Thread) -> None:
    events = await thread.inbound.events(len(thread.seen))
    assert {event.event_id for event in events} == thread.seen


def _sendgrid_events(message_id: str, *kinds: tuple[str, dict[str, Any]]) -> bytes:
    now = int(time.time())
    return json.dumps(
        [
            {
                "email": "maria@example.net",
                "timestamp": now,
                "event": kind,
                "sg_event_id": f"sg-{kind}-{index}",
                "sg_message_id": f"14c5d75ce93.dfd.64b469.filter0001.{index}",
                "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
                "router_message_id": message_id,
                **extra,
            }
            for index, (kind, extra) in enumerate(kinds)
        ]
    ).encode()


async def test_sendgrid_signed_events_reach_the_reply(
    email_settings: Settings,
    email_api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    inbound: Inbound,
    mail_servers: MailServers,
    team: Team,
) -> None:
    thread, stored = await _sent_reply(
        email_settings, email_api, sessions, inbound, mail_servers, team, post_sendgrid
    )
    assert stored.provider == "sendgrid"
    assert stored.provider_message_id == f"{stored.id}@shop.example"
    [sent] = mail_servers.sent
    assert json.loads(sent.headers["X-Custom-Args"]) == {
        "router_message_id": stored.provider_message_id
    }
    client = email_api[1]
    url = "/webhooks/email/sendgrid/events"
    body = _sendgrid_events(
        str(stored.provider_message_id),
        ("processed", {}),
        ("delivered", {"response": "250 OK"}),
    )
    response = await client.post(url, content=body, headers=sendgrid_event_headers(body))
    assert response.status_code == 200, response.text
    [update] = await thread.routed(1)  # "processed" says nothing the row records
    assert isinstance(update, DeliveryUpdate)
    assert (await _row(sessions, stored)).delivery_status == "delivered"

    body = _sendgrid_events(
        str(stored.provider_message_id),
        ("bounce", {"type": "bounce", "reason": "550 5.1.1 unknown user", "status": "5.1.1"}),
        # Events of mail the router did not send carry no argument of ours: skipped.
        ("delivered", {"router_message_id": None}),
    )
    assert (
        await client.post(url, content=body, headers=sendgrid_event_headers(body))
    ).status_code == 200
    await thread.routed(1)
    row = await _row(sessions, stored)
    assert row.delivery_status == "failed"
    assert row.delivery_error == "bounce: bounce: 550 5.1.1 unknown user"

    other_key = ec.generate_private_key(ec.SECP256R1())
    for headers in (
        sendgrid_event_headers(body, key=other_key),
        sendgrid_event_headers(body + b" "),
        sendgrid_event_headers(body, timestamp=int(time.time()) - 3600),
        {"Content-Type": "application/json"},
    ):
        refused = await client.post(url, content=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    await nothing_published_after(thread)


async def test_mailgun_signed_events_reach_the_reply(
    email_settings: Settings,
    email_api: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    inbound: Inbound,
    mail_servers: MailServers,
    team: Team,
) -> None:
    thread, stored = await _sent_reply(
        email_settings, email_api, sessions, inbound, mail_servers, team, post_mailgun
    )
    assert stored.provider == "mailgun"
    [sent] = mail_servers.sent
    assert sent.path == "/v3/shop.example/messages"
    client = email_api[1]
    url = "/webhooks/email/mailgun/events"
    headers = {"Content-Type": "application/json"}
    message = {"headers": {"message-id": str(stored.provider_message_id)}}

    def event(kind: str, **extra: Any) -> bytes:
        data = {"event": kind, "id": f"ev-{kind}", "timestamp": time.time(), "message": message}
        return mailgun_event({**data, **extra})

    assert (await client.post(url, content=event("opened"), headers=headers)).status_code == 200
    await thread.routed(1)
    assert (await _row(sessions, stored)).delivery_status == "read"

    # A temporary failure is retried by Mailgun: nothing to record yet.
    temporary = event("failed", severity="temporary", reason="generic")
    assert (await client.post(url, content=temporary, headers=headers)).status_code == 200
    failed = event(
        "failed",
        severity="permanent",
        reason="bounce",
        **{"delivery-status": {"code": 550, "message": "No such user"}},
    )
    assert (await client.post(url, content=failed, headers=headers)).status_code == 200
    [update] = await thread.routed(1)
    assert isinstance(update, DeliveryUpdate)
    row = await _row(sessions, stored)
    assert row.delivery_status == "failed"
    assert row.delivery_error == "bounce: 550: No such user"

    forged = json.loads(event("delivered"))
    forged["signature"]["signature"] = "0" * 64
    refused = await client.post(url, content=json.dumps(forged), headers=headers)
    assert refused.status_code == 401
    stale = await client.post(
        url, content=mailgun_event({"event": "delivered"}, timestamp=1), headers=headers
    )
    assert stale.status_code == 401
    unsigned = await client.post(url, content=b'{"event-data": {}}', headers=headers)
    assert unsigned.status_code == 422
    assert "signature" in unsigned.json()["detail"]
    await nothing_published_after(thread)


async def test_event_webhooks_without_their_secret_refuse_everything(
    settings: Settings, inbound: Inbound
) -> None:
    bare = settings.model_copy(
        update={
            "postmark_events_token": None,
            "sendgrid_events_public_key": None,
            "mailgun_signing_key": None,
        }
    )
    await ensure_topics(bare)
    async with app_client(bare) as (_, client):
        for provider in ("postmark", "sendgrid", "mailgun"):
            response = await client.post(
                f"/webhooks/email/{provider}/events", content=b"[]", headers=_auth("x")
            )
            assert response.status_code == 503, (provider, response.text)
            assert response.json()["type"].endswith("/not-configured")
    await nothing_published(inbound)
