"""Delivery news of the email we send: Postmark, SendGrid and Mailgun event webhooks.

Each event about a message we sent becomes a `DeliveryUpdate` naming it by the id its
sender stored on the row: Postmark's `MessageID`; for SendGrid and Mailgun our own
Message-ID (canonical), which SendGrid echoes as the custom argument we gave it and Mailgun
reports as the message's `message-id` header. Delivered -> delivered, opened -> read, a
bounce, a drop or a permanent failure -> failed with the provider's reason; anything else
(processed, deferred, clicks, a temporary failure Mailgun retries) is news about nothing
the row records, and is taken and dropped. An event of odd shape is skipped, never refused:
the provider signed it.

- Postmark does not sign: its webhook URL carries basic auth, the password
  `ROUTER_POSTMARK_EVENTS_TOKEN`.
- SendGrid signs `timestamp + body` with ECDSA P-256 / SHA-256 (base64 DER signature in
  `X-Twilio-Email-Event-Webhook-Signature`, the time in `...-Timestamp`); the public key is
  `ROUTER_SENDGRID_EVENTS_PUBLIC_KEY`.
- Mailgun signs `timestamp + token` with HMAC-SHA256 under the signing key, inside the JSON
  (`signature.{timestamp,token,signature}`). A replayed event changes nothing (a status never
  goes back), so only the replay window is checked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from fastapi import APIRouter, Request, Response

from adapters.channels.email.parsing import parse_date
from adapters.channels.webhook import (
    check_fresh,
    hmac_hex,
    json_document,
    problem_responses,
    publish,
    read_body,
    require_media_type,
    require_secret,
    settings_of,
    verify_basic_auth,
    verify_equal,
)
from adapters.outbound.sendgrid import MESSAGE_ARG
from router.channels import Channel
from router.errors import BadSignature, InvalidPayload, NotConfigured
from router.inbound.envelope import DeliveryStatus, DeliveryUpdate
from router.outbound.email_thread import canonical_message_id

router = APIRouter(tags=["webhooks"])

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
_MAX_ID = 255
# Postmark's bounce types that are not a failed delivery: a delay, an auto-reply, a change.
_POSTMARK_NOT_FAILED = frozenset(
    {
        "Transient",
        "AutoResponder",
        "AddressChange",
        "Subscribe",
        "Unsubscribe",
        "OpenRelayTest",
        "ChallengeVerification",
    }
)
_SENDGRID = {
    "delivered": DeliveryStatus.DELIVERED,
    "open": DeliveryStatus.READ,
    "bounce": DeliveryStatus.FAILED,
    "dropped": DeliveryStatus.FAILED,
}
_MAILGUN = {"delivered": DeliveryStatus.DELIVERED, "opened": DeliveryStatus.READ}
_ANSWERED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The updates are durably taken; the body is empty"}
}


def _text(value: object) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def _reason(*values: object) -> str:
    """A provider's words for a failure, joined (`type: description: details`)."""
    return ": ".join(part for part in map(_text, values) if part)


def _update(
    provider: str,
    message_id: str | None,
    status: DeliveryStatus,
    error: str | None = None,
    at: datetime | None = None,
) -> DeliveryUpdate | None:
    if not message_id or len(message_id) > _MAX_ID:
        return None
    return DeliveryUpdate(
        channel=Channel.EMAIL,
        provider=provider,
        provider_message_id=message_id,
        conversation_key=f"email:{message_id}",
        status=status,
        error=error[:1000] if error else None,
        provider_timestamp=at,
    )


def _epoch(value: object) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
        return datetime.fromtimestamp(value, UTC)
    return None


def _iso(value: object) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        return parse_date(text)
    except OverflowError:  # year 1 with an offset east of UTC
        return None


# --- Postmark ------------------------------------------------------------------------------


def postmark_update(event: Mapping[str, Any]) -> DeliveryUpdate | None:
    """A Postmark Delivery, Bounce or Open webhook as an update; None for other records."""
    kind = _text(event.get("RecordType"))
    message_id = _text(event.get("MessageID"))
    if kind == "Delivery":
        return _update(
            "postmark", message_id, DeliveryStatus.DELIVERED, None, _iso(event.get("DeliveredAt"))
        )
    if kind == "Open":
        return _update(
            "postmark", message_id, DeliveryStatus.READ, None, _iso(event.get("ReceivedAt"))
        )
    if kind == "Bounce" and _text(event.get("Type")) not in _POSTMARK_NOT_FAILED:
        reason = _reason(event.get("Type"), event.get("Description"), event.get("Details"))
        return _update(
            "postmark",
            message_id,
            DeliveryStatus.FAILED,
            reason or "bounced",
            _iso(event.get("BouncedAt")),
        )
    return None


@router.post(
    "/webhooks/email/postmark/events",
    operation_id="webhook_postmark_events",
    summary="Postmark delivery, bounce and open webhooks of the email we sent",
    response_class=Response,
    responses={**_ANSWERED, **problem_responses(401, 413, 415, 422, 503)},
)
async def postmark_events(request: Request) -> Response:
    """Record Postmark's news of a message we sent; a non-200 answer makes Postmark retry."""
    settings = settings_of(request)
    token = require_secret(settings.postmark_events_token, "ROUTER_POSTMARK_EVENTS_TOKEN")
    verify_basic_auth(request, token)
    require_media_type(request, "application/json")
    document = _json(await read_body(request, settings.email_max_body_bytes))
    if not isinstance(document, dict):
        raise InvalidPayload("body: not a JSON object", field="body")
    update = postmark_update(document)
    await publish(request, [update] if update else [])
    return Response(status_code=200)


# --- SendGrid ------------------------------------------------------------------------------


def sendgrid_updates(events: Iterable[object]) -> list[DeliveryUpdate]:
    """The events about messages we sent (they carry our custom argument) as updates."""
    found = []
    for event in events:
        if not isinstance(event, dict):
            continue
        status = _SENDGRID.get(_text(event.get("event")) or "")
        message_id = canonical_message_id(_text(event.get(MESSAGE_ARG)))
        if status is None or message_id is None:
            continue
        error = None
        if status is DeliveryStatus.FAILED:
            error = _reason(event.get("event"), event.get("type"), event.get("reason"))
        update = _update("sendgrid", message_id, status, error, _epoch(event.get("timestamp")))
        if update is not None:
            found.append(update)
    return found


def verify_sendgrid(public_key: str, timestamp: str, body: bytes, signature: str | None) -> None:
    """ECDSA (P-256, SHA-256) over `timestamp + body`; 401 when missing or wrong."""
    try:
        key = load_der_public_key(base64.b64decode(public_key))
    except (ValueError, binascii.Error):
        raise NotConfigured(
            "ROUTER_SENDGRID_EVENTS_PUBLIC_KEY is not a base64 DER public key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise NotConfigured("ROUTER_SENDGRID_EVENTS_PUBLIC_KEY is not an elliptic curve key")
    if not signature:
        raise BadSignature("the signature is missing")
    try:
        key.verify(
            base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadSignature("the signature does not match") from None


@router.post(
    "/webhooks/email/sendgrid/events",
    operation_id="webhook_sendgrid_events",
    summary="SendGrid event webhook (signed) of the email we sent",
    response_class=Response,
    responses={**_ANSWERED, **problem_responses(401, 413, 415, 422, 503)},
)
async def sendgrid_events(request: Request) -> Response:
    """Record SendGrid's news of messages we sent; a non-2xx answer makes SendGrid retry."""
    settings = settings_of(request)
    public_key = settings.sendgrid_events_public_key
    if not public_key:
        raise NotConfigured("ROUTER_SENDGRID_EVENTS_PUBLIC_KEY is not set")
    body = await read_body(request, settings.email_max_body_bytes)
    timestamp = request.headers.get(SENDGRID_TIMESTAMP, "")
    verify_sendgrid(public_key, timestamp, body, request.headers.get(SENDGRID_SIGNATURE))
    check_fresh(timestamp, settings.replay_window_seconds)
    document = _json(body)
    if not isinstance(document, list):
        raise InvalidPayload("body: not a JSON array of events", field="body")
    await publish(request, sendgrid_updates(document))
    return Response(status_code=200)


# --- Mailgun -------------------------------------------------------------------------------


def mailgun_update(data: Mapping[str, Any]) -> DeliveryUpdate | None:
    """A Mailgun `event-data` as an update; None for events the row does not record."""
    event = _text(data.get("event"))
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    raw_id = _text(headers.get("message-id")) if isinstance(headers, dict) else None
    message_id = canonical_message_id(raw_id)
    at = _epoch(data.get("timestamp"))
    if event in _MAILGUN:
        return _update("mailgun", message_id, _MAILGUN[event], None, at)
    if event == "failed" and _text(data.get("severity")) != "temporary":
        status = data.get("delivery-status")
        said = status if isinstance(status, dict) else {}
        reason = _reason(
            data.get("reason"), said.get("code"), said.get("message") or said.get("description")
        )
        return _update("mailgun", message_id, DeliveryStatus.FAILED, reason or "failed", at)
    return None


@router.post(
    "/webhooks/email/mailgun/events",
    operation_id="webhook_mailgun_events",
    summary="Mailgun event webhooks (delivered, failed, opened) of the email we sent",
    response_class=Response,
    responses={**_ANSWERED, **problem_responses(401, 413, 415, 422, 503)},
)
async def mailgun_events(request: Request) -> Response:
    """Record Mailgun's news of a message we sent; a non-2xx answer makes Mailgun retry."""
    settings = settings_of(request)
    key = require_secret(settings.mailgun_signing_key, "ROUTER_MAILGUN_SIGNING_KEY")
    require_media_type(request, "application/json")
    document = _json(await read_body(request, settings.email_max_body_bytes))
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, dict):
        raise InvalidPayload("signature: missing", field="signature")
    timestamp = _text(signature.get("timestamp")) or ""
    token = _text(signature.get("token")) or ""
    verify_equal(
        hmac_hex(key, (timestamp + token).encode()), _text(signature.get("signature")), "signature"
    )
    check_fresh(timestamp, settings.replay_window_seconds)
    data = document.get("event-data") if isinstance(document, dict) else None
    update = mailgun_update(data) if isinstance(data, dict) else None
    await publish(request, [update] if update else [])
    return Response(status_code=200)


def _json(body: bytes) -> Any:
    try:
        return json_document(body)
    except ValueError:
        raise InvalidPayload("body: not JSON", field="body") from None
