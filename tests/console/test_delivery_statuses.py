"""Delivery statuses end to end, per messaging channel: the agent replies, the provider (a
local stand-in) takes it and answers with an id, its signed status webhook comes back, and
the reply's status shows in the conversation."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from datetime import datetime

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel, IdentityKind
from router.inbound.envelope import CustomerIdentity, InboundMessage
from tests import factories
from tests.adapters.channel_requests import PUBLIC, meta_headers, twilio_signed
from tests.adapters.meta_requests import encoded, from_customer, social, wa_value, whatsapp
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders
from tests.console.receipts import Receipts, detail, reply_status
from tests.console.replies import accepted_reply, settled
from tests.factories import messenger
from tests.factories import whatsapp as whatsapp_message

LINE, CUSTOMER = "+14155550100", "+14155550199"
PAGE, PSID = "1234567890", "6789012345"
IG_ACCOUNT, IGSID = "17841400000000001", "17841455555555555"
TWILIO_STATUS = "/webhooks/twilio/sms/status"


def twilio_status(
    sid: str, status: str, *, whatsapp: bool = False, **extra: str
) -> list[tuple[str, str]]:
    prefix = "whatsapp:" if whatsapp else ""
    return [
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("From", prefix + LINE),
        ("To", prefix + CUSTOMER),
        ("AccountSid", providers.TWILIO_SID),
        ("ApiVersion", "2010-04-01"),
        *extra.items(),
    ]


async def post_twilio(receipts: Receipts, params: list[tuple[str, str]]) -> None:
    body, headers = twilio_signed(TWILIO_STATUS, params, token=providers.TWILIO_TOKEN)
    await receipts.post(TWILIO_STATUS, body, headers)


async def post_meta(receipts: Receipts, document: dict[str, object]) -> None:
    body = encoded(document)
    await receipts.post("/webhooks/meta", body, meta_headers(body))


async def _conversation(client: httpx.AsyncClient, team: Team) -> str:
    [item] = (await client.get("/v1/conversations", headers=bearer(team.ada_key))).json()["items"]
    return str(item["id"])


async def test_whatsapp_cloud_api_statuses_reach_the_reply(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    mid = await accepted_reply(client, receipts.engine, team, whatsapp_message("Red?"), "Yes, red.")
    message = await settled(app, sessions, mid)
    [request] = fake_providers.requests
    assert request.path == "/106540352242922/messages"
    assert request.headers["authorization"] == f"Bearer {providers.WHATSAPP_TOKEN}"
    assert request.json()["to"] == "16505551234"
    wamid = message.provider_message_id or ""
    assert wamid.startswith("wamid.")
    cid = await _conversation(client, team)
    for status in ("sent", "delivered", "read"):
        statuses = [
            {
                "id": wamid,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": "16505551234",
            }
        ]
        await post_meta(receipts, whatsapp(wa_value(statuses=statuses)))
        assert await reply_status(client, team, cid, mid) == status


async def test_whatsapp_through_twilio_status_callbacks_reach_the_reply(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    inbound = InboundMessage(
        channel=Channel.WHATSAPP,
        provider="twilio",
        provider_message_id=f"SM{uuid.uuid4().hex}",
        conversation_key=f"whatsapp:{CUSTOMER}|{LINE}",
        customer=CustomerIdentity(kind=IdentityKind.WHATSAPP, value=CUSTOMER),
        recipient=LINE,
        text="Is it red?",
        stripped_text="Is it red?",
    )
    mid = await accepted_reply(client, receipts.engine, team, inbound, "It is.")
    message = await settled(app, sessions, mid)
    [request] = fake_providers.requests
    assert request.path == f"/2010-04-01/Accounts/{providers.TWILIO_SID}/Messages.json"
    assert request.form() == {
        "To": f"whatsapp:{CUSTOMER}",
        "From": f"whatsapp:{LINE}",
        "Body": "It is.",
        "StatusCallback": PUBLIC + TWILIO_STATUS,
    }
    sid = message.provider_message_id or ""
    cid = await _conversation(client, team)
    for status in ("sent", "delivered", "read"):
        await post_twilio(receipts, twilio_status(sid, status, whatsapp=True))
        assert await reply_status(client, team, cid, mid) == status


async def test_sms_status_callbacks_reach_the_reply_and_a_lost_one_is_a_failed_reply(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    mid = await accepted_reply(
        client, receipts.engine, team, factories.sms("Parcel?"), "On its way."
    )
    message = await settled(app, sessions, mid)
    [request] = fake_providers.requests
    assert request.headers["authorization"].startswith("Basic ")
    assert request.form()["StatusCallback"] == PUBLIC + TWILIO_STATUS
    sid = message.provider_message_id or ""
    cid = await _conversation(client, team)
    await post_twilio(receipts, twilio_status(sid, "sent"))
    assert await reply_status(client, team, cid, mid) == "sent"
    await post_twilio(
        receipts,
        twilio_status(sid, "undelivered", ErrorCode="30003", ErrorMessage="Unreachable handset"),
    )
    shown = await detail(client, team, cid)
    [reply] = [m for m in shown["messages"]["items"] if m["id"] == mid]
    assert reply["delivery_status"] == "failed"
    assert reply["delivery_error"] == "30003: Unreachable handset: undelivered"
    [event] = [e for e in shown["events"]["items"] if e["kind"] == "reply_failed"]
    assert event["details"]["provider"] == "twilio"
    assert event["details"]["status_code"] is None
    assert "30003: Unreachable handset" in event["details"]["error"]
    assert shown["conversation"]["failed_replies"] == 1


async def test_messenger_watermarks_move_every_reply_sent_up_to_them(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    first = await accepted_reply(client, receipts.engine, team, messenger("Open?"), "Until 6 pm.")
    await settled(app, sessions, first)
    cid = await _conversation(client, team)
    await asyncio.sleep(0.05)
    response = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json={"text": "Or 7."}
    )
    second = str(response.json()["id"])
    await settled(app, sessions, second)
    assert [r.path for r in fake_providers.requests] == ["/me/messages", "/me/messages"]
    assert all(
        r.headers["authorization"] == f"Bearer {providers.PAGE_TOKEN}"
        for r in fake_providers.requests
    )
    [created_first] = [
        m["created_at"]
        for m in (await detail(client, team, cid))["messages"]["items"]
        if m["id"] == first
    ]
    # Delivered up to just after the first reply: the second is not covered yet.
    watermark = math.ceil(datetime.fromisoformat(created_first).timestamp() * 1000) + 1
    delivered = from_customer(PSID, business=PAGE, delivery={"watermark": watermark})
    await post_meta(receipts, social("page", [delivered], business=PAGE))
    assert await reply_status(client, team, cid, first) == "delivered"
    assert await reply_status(client, team, cid, second) == "sent"
    read = from_customer(PSID, business=PAGE, read={"watermark": int(time.time() * 1000) + 1000})
    await post_meta(receipts, social("page", [read], business=PAGE))
    assert await reply_status(client, team, cid, first) == "read"
    assert await reply_status(client, team, cid, second) == "read"


async def test_instagram_reads_name_the_reply(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    inbound = InboundMessage(
        channel=Channel.INSTAGRAM,
        provider="meta",
        provider_message_id=f"aWdf{uuid.uuid4().hex}",
        conversation_key=f"instagram:{IG_ACCOUNT}|{IGSID}",
        customer=CustomerIdentity(kind=IdentityKind.INSTAGRAM, value=IGSID),
        recipient=IG_ACCOUNT,
        text="Do you ship abroad?",
        stripped_text="Do you ship abroad?",
    )
    mid = await accepted_reply(client, receipts.engine, team, inbound, "We do.")
    message = await settled(app, sessions, mid)
    [request] = fake_providers.requests
    assert request.path == "/me/messages"
    assert request.json()["recipient"] == {"id": IGSID}
    sent_id = message.provider_message_id or ""
    cid = await _conversation(client, team)
    assert await reply_status(client, team, cid, mid) == "sent"
    read = from_customer(IGSID, business=IG_ACCOUNT, read={"mid": sent_id})
    await post_meta(receipts, social("instagram", [read], business=IG_ACCOUNT))
    assert await reply_status(client, team, cid, mid) == "read"
