"""A NUL in any signed webhook field is taken (2xx), made storable, and reaches the database.

PostgreSQL stores no NUL in text or JSONB. Every route gets a properly signed request with a
NUL in its text fields; what it publishes carries U+FFFD there instead, and each message says
which fields were changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.inbound.envelope import REPLACED_METADATA_KEY, Event, InboundMessage
from router.models import Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.adapters.channel_requests import (
    meta_headers,
    published,
    twilio_signed,
    webchat_headers,
)
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.email_requests import basic_auth, mailgun_signed, multipart
from tests.support import app_client

NUL = "\x00"
FFFD = "\ufffd"
CUSTOMER, LINE = "+14155550199", "+14155550100"
CALL = {
    "AccountSid": "ACa1b2c3d4e5f60718293a4b5c6d7e8f90",
    "CallSid": "CA5c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f",
    "From": CUSTOMER,
    "To": LINE,
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
}


@dataclass(frozen=True)
class Signed:
    """A request signed as its provider signs it, and what it must publish."""

    path: str
    body: bytes
    headers: dict[str, str]
    events: int
    # (field as the envelope names it, its expected text) for each event, in order
    expected: tuple[tuple[str, str], ...]


def _chat() -> Signed:
    body = json.dumps(
        {
            "event_id": "evt-nul-1",
            "visitor": {"id": "visitor-1", "name": f"Ada{NUL}"},
            "session_id": "session-1",
            "site": "shop",
            "text": f"hello{NUL}chat",
            "sent_at": "2026-12-02T12:00:00Z",
        }
    ).encode()
    return Signed("/webhooks/chat", body, webchat_headers(body), 1, (("text", f"hello{FFFD}chat"),))


def _twilio(path: str, params: dict[str, str], events: int, *expected: tuple[str, str]) -> Signed:
    query = f"From={CUSTOMER}&To={LINE}".replace("+", "%2B") if "recording" in path else ""
    body, headers = twilio_signed(path, list(params.items()), query=query)
    return Signed(path + (f"?{query}" if query else ""), body, headers, events, expected)


def _sms() -> Signed:
    params = {
        "MessageSid": "SM0000000000000000000000000000nul",
        "AccountSid": CALL["AccountSid"],
        "From": CUSTOMER,
        "To": LINE,
        "Body": f"hello{NUL}sms",
        "ProfileName": f"Ada{NUL}",
        "NumMedia": "0",
    }
    return _twilio("/webhooks/twilio/sms", params, 1, ("text", f"hello{FFFD}sms"))


def _sms_status() -> Signed:
    params = {
        "MessageSid": "SMout1",
        "MessageStatus": "failed",
        "From": LINE,
        "To": CUSTOMER,
        "ErrorCode": "30003",
        "ErrorMessage": f"Unreachable{NUL}handset",
    }
    expected = ("error", f"30003: Unreachable{FFFD}handset: failed")
    return _twilio("/webhooks/twilio/sms/status", params, 1, expected)


def _voice() -> Signed:
    params = {**CALL, "CallStatus": "ringing", "CallerName": f"Ada{NUL}Lovelace"}
    expected = ("customer.display_name", f"Ada{FFFD}Lovelace")
    return _twilio("/webhooks/twilio/voice", params, 1, expected)


def _voice_status() -> Signed:
    params = {**CALL, "CallStatus": "no-answer", "CallerName": f"Ada{NUL}"}
    return _twilio(
        "/webhooks/twilio/voice/status", params, 1, ("call.customer.display_name", f"Ada{FFFD}")
    )


def _voice_recorded() -> Signed:
    params = {**CALL, "CallStatus": "completed", "Digits": f"#{NUL}", "RecordingSid": "RE1"}
    return _twilio("/webhooks/twilio/voice/recorded", params, 0)


def _voice_recording() -> Signed:
    params = {
        "AccountSid": CALL["AccountSid"],
        "CallSid": CALL["CallSid"],
        "RecordingSid": f"RE0a1b2c3d4e5f6{NUL}",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0a1b",
        "RecordingStatus": "completed",
        "RecordingDuration": "14",
    }
    expected = ("provider_message_id", f"RE0a1b2c3d4e5f6{FFFD}")
    return _twilio("/webhooks/twilio/voice/recording", params, 1, expected)


def _voice_transcription() -> Signed:
    params = {
        **CALL,
        "CallStatus": "completed",
        "TranscriptionSid": "TR0a1b2c3d4e5f60718293a4b5c6d7e8f",
        "TranscriptionText": f"call me{NUL} back",
        "TranscriptionStatus": "completed",
    }
    return _twilio(
        "/webhooks/twilio/voice/transcription", params, 1, ("text", f"call me{FFFD} back")
    )


def _meta() -> Signed:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": f"Sheena{NUL}"}, "wa_id": "16505551234"}],
        "messages": [
            {
                "from": "16505551234",
                "id": "wamid.nul.1",
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": f"hello{NUL}whatsapp"},
            }
        ],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    body = json.dumps(document).encode()
    return Signed(
        "/webhooks/meta", body, meta_headers(body), 1, (("text", f"hello{FFFD}whatsapp"),)
    )


_EMAIL_HEADERS = "From: Maria <maria@example.net>\nMessage-ID: <nul-1@mail.example.net>\n"


def _sendgrid() -> Signed:
    body, content_type = multipart(
        [
            ("headers", _EMAIL_HEADERS),
            ("from", f"Maria{NUL} <maria@example.net>"),
            ("to", "support@parse.example.com"),
            ("subject", f"Where{NUL} is it?"),
            ("text", f"hello{NUL}sendgrid"),
            ("envelope", '{"to":["support@parse.example.com"],"from":"maria@example.net"}'),
        ]
    )
    headers = {"Content-Type": content_type, **basic_auth(SECRETS["sendgrid_inbound_token"])}
    expected = ("subject", f"Where{FFFD} is it?")
    return Signed("/webhooks/email/sendgrid", body, headers, 1, (expected,))


def _mailgun() -> Signed:
    fields = mailgun_signed(
        {
            "recipient": "support@mg.example.com",
            "sender": "maria@example.net",
            "from": f"Maria{NUL} <maria@example.net>",
            "subject": f"Re: order{NUL}",
            "body-plain": f"hello{NUL}mailgun",
            "stripped-text": f"hello{NUL}mailgun",
            "Message-Id": "<nul-2@mail.example.net>",
        }
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    expected = ("stripped_text", f"hello{FFFD}mailgun")
    return Signed("/webhooks/email/mailgun", urlencode(fields).encode(), headers, 1, (expected,))


def _postmark() -> Signed:
    document = {
        "MessageID": "pm-nul-1",
        "From": "maria@example.net",
        "FromFull": {"Email": "maria@example.net", "Name": f"Maria{NUL}"},
        "To": "support@inbound.example.com",
        "Subject": f"Hi{NUL}",
        "TextBody": f"hello{NUL}postmark",
        "Headers": [{"Name": "Message-ID", "Value": "<nul-3@mail.example.net>"}],
        "Attachments": [{"Name": f"a{NUL}.txt", "ContentType": "text/plain", "ContentLength": 3}],
    }
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json", **basic_auth(SECRETS["postmark_inbound_token"])}
    expected = ("attachments[0].filename", f"a{FFFD}.txt")
    return Signed("/webhooks/email/postmark", body, headers, 1, (expected,))


ROUTES: dict[str, Callable[[], Signed]] = {
    "sendgrid": _sendgrid,
    "mailgun": _mailgun,
    "postmark": _postmark,
    "chat": _chat,
    "meta": _meta,
    "sms": _sms,
    "sms-status": _sms_status,
    "voice": _voice,
    "voice-status": _voice_status,
    "voice-recorded": _voice_recorded,
    "voice-recording": _voice_recording,
    "voice-transcription": _voice_transcription,
}


def _field(event: Event, path: str) -> object:
    value: object = event
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            assert isinstance(value, tuple)
            value = value[int(part[1:-1])]
        else:
            value = getattr(value, part)
    return value


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_nul_in_a_signed_field_is_taken_and_published_storable(
    route: str, client: httpx.AsyncClient, inbound: Inbound
) -> None:
    request = ROUTES[route]()
    response = await client.post(request.path, content=request.body, headers=request.headers)
    assert 200 <= response.status_code < 300, response.text

    found = await published(inbound, request.events)
    for (record, event), (path, text) in zip(found, request.expected, strict=True):
        assert b"\\u0000" not in record.value
        assert _field(event, path) == text
        if isinstance(event, InboundMessage):
            assert path in event.metadata[REPLACED_METADATA_KEY].split(",")


@pytest.mark.parametrize("route", ["chat", "sms"])
async def test_a_nul_reaches_the_database_through_the_routing_engine(
    route: str,
    client: httpx.AsyncClient,
    inbound: Inbound,
    webhook_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    request = ROUTES[route]()
    response = await client.post(request.path, content=request.body, headers=request.headers)
    assert response.status_code == 200, response.text
    events = [event for _, event in await published(inbound, 1)]

    await RoutingEngine(sessions, webhook_settings).process(events)

    async with sessions() as session:
        message = (await session.scalars(select(Message))).one()
    assert message.text == request.expected[0][1]
    assert "text" in message.details[REPLACED_METADATA_KEY].split(",")


@pytest.mark.parametrize("route", ["chat", "sms"])
async def test_the_inline_transport_routes_a_nul_into_the_database(
    route: str, webhook_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    inline = webhook_settings.model_copy(update={"kafka_bootstrap_servers": None})
    request = ROUTES[route]()
    async with app_client(inline) as (_, http):
        response = await http.post(request.path, content=request.body, headers=request.headers)
    assert response.status_code == 200, response.text

    async with sessions() as session:
        message = (await session.scalars(select(Message))).one()
    assert message.text == request.expected[0][1]
    assert NUL not in (message.stripped_text + str(message.details))


# The JSON routes, and how each signs a body again (Postmark's basic auth does not cover it).
_RESIGN: dict[str, Callable[[bytes], dict[str, str]] | None] = {
    "chat": webchat_headers,
    "meta": meta_headers,
    "postmark": None,
}


@pytest.mark.parametrize("route", sorted(_RESIGN))
async def test_a_lone_surrogate_escaped_in_a_signed_json_body_is_taken_and_replaced(
    route: str, client: httpx.AsyncClient, inbound: Inbound
) -> None:
    request = ROUTES[route]()
    # JSON may escape half a surrogate pair on its own; the fast parser refuses that.
    body = request.body.replace(b"\\u0000", b"\\ud800")
    assert body != request.body
    sign = _RESIGN[route]
    headers = request.headers if sign is None else sign(body)
    response = await client.post(request.path, content=body, headers=headers)
    assert response.status_code == 200, response.text

    found = await published(inbound, request.events)
    for (_, event), (path, text) in zip(found, request.expected, strict=True):
        assert _field(event, path) == text
