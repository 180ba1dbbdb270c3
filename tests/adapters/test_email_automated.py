"""Bounces and out-of-office replies through each provider's webhook, signed as it signs.

Every one is taken (2xx) and published marked as what it is; a sender without an address is
never a reason to refuse a signed email.
"""

from __future__ import annotations

import base64
import json
import uuid
from email.message import EmailMessage
from urllib.parse import urlencode

import httpx
import pytest

from router.inbound.envelope import Automated, InboundMessage
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.email_requests import (
    FilePart,
    basic_auth,
    email_events,
    mailgun_forward,
    mailgun_signed,
    multipart,
)

SENT = uuid.UUID("6f1c2a52-1d0e-4c0b-9d8a-3f1e2b4c5d6e")
SENT_ID = f"<{SENT}@shop.example>"
RETURNED_HEADERS = (
    "From: Support <support@shop.example>\r\n"
    "To: gone@example.net\r\n"
    "Subject: Re: Invoice 4521\r\n"
    f"Message-ID: {SENT_ID}\r\n"
    "References: <q1@example.net>\r\n"
)
STATUS = (
    "Reporting-MTA: dns; mx.example.net\r\n\r\n"
    "Final-Recipient: rfc822; gone@example.net\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
)
BOUNCE_TEXT = "This is the mail system at host mx.example.net.\n\nI'm sorry: gone@example.net"
OOO_TEXT = "I am out of the office until Monday."


def _dsn() -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464)."""
    boundary = "dsn-boundary"
    return (
        'From: "" (Mail Delivery System)\r\n'
        "To: support@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{BOUNCE_TEXT}\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{STATUS}\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{RETURNED_HEADERS}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _out_of_office() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Maria Lopez <maria@example.net>"
    message["To"] = "support@shop.example"
    message["Subject"] = "Automatic reply: Invoice 4521"
    message["Message-ID"] = "<ooo-1@example.net>"
    message["In-Reply-To"] = SENT_ID
    message["References"] = f"<q1@example.net> {SENT_ID}"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(OOO_TEXT)
    return message


def _assert_bounce(event: InboundMessage, provider: str) -> None:
    assert event.provider == provider
    assert event.automated is Automated.BOUNCE
    assert SENT_ID.strip("<>") in event.references
    assert event.conversation_key == "email:q1@example.net"  # the returned message's thread
    assert "5.1.1" in event.metadata["delivery_error"]


def _assert_out_of_office(event: InboundMessage, provider: str) -> None:
    assert event.provider == provider
    assert event.automated is Automated.AUTO_REPLY
    assert event.customer.value == "maria@example.net"
    assert event.conversation_key == "email:q1@example.net"


# --- SendGrid Inbound Parse -------------------------------------------------------------

SENDGRID = "/webhooks/email/sendgrid"
SENDGRID_AUTH = basic_auth(SECRETS["sendgrid_inbound_token"])
ENVELOPE_NULL = json.dumps({"to": ["support@shop.example"], "from": None})


async def _sendgrid(client: httpx.AsyncClient, fields: list[tuple[str, str | bytes]]) -> int:
    body, content_type = multipart(fields)
    headers = {"Content-Type": content_type, **SENDGRID_AUTH}
    return (await client.post(SENDGRID, content=body, headers=headers)).status_code


async def test_sendgrid_raw_bounce(client: httpx.AsyncClient, inbound: Inbound) -> None:
    assert await _sendgrid(client, [("email", _dsn()), ("envelope", ENVELOPE_NULL)]) == 200
    [(_, event)] = await email_events(inbound, 1)
    _assert_bounce(event, "sendgrid")
    # `"" (Mail Delivery System)` has no address, nor has the null envelope sender.
    assert event.customer.value == "bounce-1@mx.example.net"
    assert event.customer.display_name == "Mail Delivery System"
    assert event.metadata["sender_identity"] == "message-id"


async def test_sendgrid_parsed_bounce_reads_the_report_parts(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    fields: list[tuple[str, str | bytes]] = [
        ("headers", "From: MAILER-DAEMON@mx.example.net\nMessage-ID: <b2@mx.example.net>\n"),
        ("from", "MAILER-DAEMON@mx.example.net"),
        ("to", "support@shop.example"),
        ("subject", "Undeliverable"),
        ("text", BOUNCE_TEXT),
        ("envelope", ENVELOPE_NULL),
    ]
    body, content_type = multipart(
        fields,
        [
            FilePart("attachment1", "details.txt", "message/delivery-status", STATUS.encode()),
            FilePart(
                "attachment2", "headers.txt", "text/rfc822-headers", RETURNED_HEADERS.encode()
            ),
        ],
    )
    headers = {"Content-Type": content_type, **SENDGRID_AUTH}
    assert (await client.post(SENDGRID, content=body, headers=headers)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    _assert_bounce(event, "sendgrid")
    assert event.customer.value == "mailer-daemon@mx.example.net"


async def test_sendgrid_out_of_office(client: httpx.AsyncClient, inbound: Inbound) -> None:
    raw = _out_of_office().as_bytes()
    envelope = json.dumps({"to": ["support@shop.example"], "from": "maria@example.net"})
    assert await _sendgrid(client, [("email", raw), ("envelope", envelope)]) == 200
    [(_, event)] = await email_events(inbound, 1)
    _assert_out_of_office(event, "sendgrid")


async def test_a_from_without_address_falls_back_to_the_envelope_sender(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    fields: list[tuple[str, str | bytes]] = [
        ("headers", 'From: "" (Mail Delivery System)\nMessage-ID: <plain-1@example.net>\n'),
        ("from", '"" (Mail Delivery System)'),
        ("to", "support@shop.example"),
        ("text", "Hello"),
        ("envelope", json.dumps({"to": ["support@shop.example"], "from": "ops@example.net"})),
    ]
    assert await _sendgrid(client, fields) == 200
    [(_, event)] = await email_events(inbound, 1)
    assert event.customer.value == "ops@example.net"
    assert event.automated is None


# --- Mailgun ------------------------------------------------------------------------------

MAILGUN = "/webhooks/email/mailgun"


async def test_mailgun_forwarded_bounce(client: httpx.AsyncClient, inbound: Inbound) -> None:
    headers = [
        ["From", "MAILER-DAEMON@mx.example.net (Mail Delivery System)"],
        ["To", "support@mg.example.com"],
        ["Subject", "Undelivered Mail Returned to Sender"],
        ["Message-Id", "<b3@mx.example.net>"],
        ["Content-Type", 'multipart/report; report-type=delivery-status; boundary="x"'],
    ]
    fields = mailgun_signed(
        mailgun_forward(
            **{
                "from": "MAILER-DAEMON@mx.example.net (Mail Delivery System)",
                "sender": "",
                "subject": "Undelivered Mail Returned to Sender",
                "body-plain": BOUNCE_TEXT,
                "stripped-text": "<absent>",
                "message-headers": json.dumps(headers),
                "Message-Id": "<b3@mx.example.net>",
                "In-Reply-To": "<absent>",
                "References": "<absent>",
            }
        )
    )
    body, content_type = multipart(
        list(fields.items()),
        [
            FilePart("attachment-1", "status", "message/delivery-status", STATUS.encode()),
            FilePart("attachment-2", "returned", "message/rfc822", RETURNED_HEADERS.encode()),
        ],
    )
    response = await client.post(MAILGUN, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    _assert_bounce(event, "mailgun")


async def test_mailgun_mime_out_of_office(client: httpx.AsyncClient, inbound: Inbound) -> None:
    fields = mailgun_signed(
        {
            "recipient": "support@mg.example.com",
            "sender": "maria@example.net",
            "body-mime": _out_of_office().as_string(),
        }
    )
    response = await client.post(
        MAILGUN,
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    _assert_out_of_office(event, "mailgun")


@pytest.mark.parametrize(
    "overrides",
    [
        {"from": "<absent>", "sender": "<absent>", "message-headers": "[]"},
        {"from": "Maria Lopez", "sender": "<absent>", "message-headers": "[]"},
    ],
)
async def test_mailgun_a_sender_without_address_is_kept_by_the_message_id(
    client: httpx.AsyncClient, inbound: Inbound, overrides: dict[str, str]
) -> None:
    fields = mailgun_signed(mailgun_forward(**overrides))
    response = await client.post(
        MAILGUN,
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    assert event.customer.value == "caf3gk9u=mg-1@mail.example.net"
    assert event.metadata["sender_identity"] == "message-id"


# --- Postmark -----------------------------------------------------------------------------

POSTMARK = "/webhooks/email/postmark"
POSTMARK_HEADERS = {
    "Content-Type": "application/json",
    **basic_auth(SECRETS["postmark_inbound_token"]),
}


def _postmark(**fields: object) -> bytes:
    document: dict[str, object] = {
        "MessageID": str(uuid.uuid4()),
        "To": "support@shop.example",
        "ToFull": [{"Email": "support@shop.example", "Name": ""}],
        "OriginalRecipient": "support@shop.example",
        "Date": "Mon, 30 Nov 2026 10:00:00 +0000",
        **fields,
    }
    return json.dumps(document).encode()


def _attached(kind: str, content: str) -> dict[str, object]:
    encoded = base64.b64encode(content.encode()).decode()
    return {"Name": "part", "ContentType": kind, "ContentLength": len(content), "Content": encoded}


async def test_postmark_bounce(client: httpx.AsyncClient, inbound: Inbound) -> None:
    body = _postmark(
        From="",
        FromFull={"Email": "", "Name": "Mail Delivery System"},
        Subject="Undelivered Mail Returned to Sender",
        TextBody=BOUNCE_TEXT,
        Headers=[
            {"Name": "Return-Path", "Value": "<>"},
            {"Name": "Message-ID", "Value": "<b4@mx.example.net>"},
        ],
        Attachments=[
            _attached("message/delivery-status", STATUS),
            _attached("text/rfc822-headers", RETURNED_HEADERS),
        ],
    )
    assert (await client.post(POSTMARK, content=body, headers=POSTMARK_HEADERS)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    _assert_bounce(event, "postmark")
    assert event.metadata["sender_identity"] == "message-id"
    assert event.customer.display_name == "Mail Delivery System"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Auto-Submitted", "auto-replied"),
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "Out of office"),
        ("Precedence", "auto_reply"),
        ("X-Auto-Response-Suppress", "All"),
        ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent; auto reply"),
    ],
)
async def test_postmark_out_of_office(
    client: httpx.AsyncClient, inbound: Inbound, name: str, value: str
) -> None:
    body = _postmark(
        From="maria@example.net",
        FromFull={"Email": "maria@example.net", "Name": "Maria Lopez"},
        Subject="Out of office",
        TextBody=OOO_TEXT,
        Headers=[
            {"Name": "Message-ID", "Value": "<ooo-2@example.net>"},
            {"Name": "References", "Value": f"<q1@example.net> {SENT_ID}"},
            {"Name": name, "Value": value},
        ],
    )
    assert (await client.post(POSTMARK, content=body, headers=POSTMARK_HEADERS)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    if name == "X-MS-Exchange-Generated-Message-Source":
        # An inbox rule forwards a person's message: not an auto-reply.
        assert event.automated is None
    else:
        _assert_out_of_office(event, "postmark")


async def test_postmark_a_person_saying_no_is_not_automated(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = _postmark(
        From="maria@example.net",
        TextBody="Still nothing.",
        Headers=[{"Name": "Auto-Submitted", "Value": "no"}],
    )
    assert (await client.post(POSTMARK, content=body, headers=POSTMARK_HEADERS)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    assert event.automated is None
