"""Building the email providers' requests for the webhook tests.

What every channel's tests share (chunked bodies, reading back what was published, the
broker outage) lives in `channel_requests`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from router.inbound.envelope import InboundMessage
from tests.adapters.channel_requests import published
from tests.adapters.conftest import SECRETS, Inbound


def basic_auth(password: str, user: str = "inbound") -> dict[str, str]:
    """The Authorization header a provider sends for `https://user:password@host/...`."""
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@dataclass(frozen=True)
class FilePart:
    field: str
    filename: str
    content_type: str
    content: bytes


def multipart(
    fields: Sequence[tuple[str, str | bytes]],
    files: Sequence[FilePart] = (),
    boundary: str = "xYzZY",
) -> tuple[bytes, str]:
    """A multipart/form-data body as SendGrid and Mailgun post it, and its content type."""
    chunks: list[bytes] = []
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    for file in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file.field}"; '
            f'filename="{file.filename}"\r\nContent-Type: {file.content_type}\r\n\r\n'.encode()
            + file.content
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def mailgun_signature(timestamp: str, token: str, key: str = SECRETS["mailgun_signing_key"]) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def mailgun_signed(
    fields: dict[str, str], *, timestamp: int | None = None, key: str | None = None
) -> dict[str, str]:
    """The fields plus a fresh `timestamp`, `token` and matching `signature`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = secrets.token_hex(25)
    signature = mailgun_signature(stamp, token, key or SECRETS["mailgun_signing_key"])
    return {**fields, "timestamp": stamp, "token": token, "signature": signature}


def mailgun_forward(**overrides: str) -> dict[str, str]:
    """The fields of a forward() post, as Mailgun's documentation lists them."""
    headers = [
        ["Received", "from mail.example.net by mxa.mailgun.org with ESMTP"],
        ["From", "Maria Lopez <maria@example.net>"],
        ["To", "Support <support@mg.example.com>"],
        ["Subject", "Re: Your order #4521"],
        ["Date", "Wed, 27 Jul 2016 13:53:02 -0700"],
        ["Message-Id", "<CAF3gK9u=mg-1@mail.example.net>"],
        ["In-Reply-To", "<order-4521@mg.example.com>"],
        ["References", "<order-4521@mg.example.com>"],
    ]
    fields = {
        "recipient": "support@mg.example.com",
        "sender": "bounces+maria=example.net@example.net",
        "from": "Maria Lopez <maria@example.net>",
        "subject": "Re: Your order #4521",
        "body-plain": "Still nothing.\n\nOn Mon, Store <s@mg.example.com> wrote:\n> Shipped\n",
        "stripped-text": "Still nothing.",
        "stripped-signature": "",
        "body-html": "<p>Still nothing.</p>",
        "stripped-html": "<p>Still nothing.</p>",
        "attachment-count": "0",
        "message-headers": json.dumps(headers),
        "Message-Id": "<CAF3gK9u=mg-1@mail.example.net>",
        "In-Reply-To": "<order-4521@mg.example.com>",
        "References": "<order-4521@mg.example.com>",
        "Date": "Wed, 27 Jul 2016 13:53:02 -0700",
        **overrides,
    }
    return {name: value for name, value in fields.items() if value != "<absent>"}


async def email_events(inbound: Inbound, expected: int) -> list[tuple[Any, InboundMessage]]:
    """Exactly `expected` records (keyed by conversation, one partition per key), as emails."""
    found = []
    for record, event in await published(inbound, expected):
        assert isinstance(event, InboundMessage)
        found.append((record, event))
    return found


# SendGrid signs its event webhook with an ECDSA key of its own; the tests sign with this one
# and configure its public half, base64 DER as SendGrid shows it.
SENDGRID_EVENTS_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_EVENTS_PUBLIC_KEY = base64.b64encode(
    SENDGRID_EVENTS_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sendgrid_event_headers(
    body: bytes, *, timestamp: int | None = None, key: ec.EllipticCurvePrivateKey | None = None
) -> dict[str, str]:
    """The signature headers of SendGrid's event webhook: ECDSA over `timestamp + body`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = (key or SENDGRID_EVENTS_KEY).sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def mailgun_event(event_data: dict[str, Any], *, timestamp: int | None = None) -> bytes:
    """A Mailgun event webhook's JSON body, signed as Mailgun signs it."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = secrets.token_hex(25)
    signature = {"timestamp": stamp, "token": token, "signature": mailgun_signature(stamp, token)}
    return json.dumps({"signature": signature, "event-data": event_data}).encode()
