"""Twilio webhooks: the request signature, and Programmable Messaging (SMS, MMS, WhatsApp).

Twilio signs every request with `X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL +
k1 v1 k2 v2 ...))`, the form parameters sorted by key and then value. The URL is the one
Twilio called, as it saw it: behind a proxy that is `ROUTER_PUBLIC_BASE_URL` + path + query.
Twilio's own SDK accepts that URL both with and without the scheme's default port (:443,
:80) because Twilio's signing side is not consistent about it; so do we. Twilio signs no
timestamp: a replay is made harmless by de-duplication on `MessageSid`/`CallSid`/... .

- `POST /webhooks/twilio/sms`: an inbound SMS/MMS, or a WhatsApp message when `From` starts
  with `whatsapp:`. -> `InboundMessage` on `Channel.SMS` (`IdentityKind.PHONE`) or
  `Channel.WHATSAPP` (`IdentityKind.WHATSAPP`), the number in E.164; MMS media
  (`NumMedia`, `MediaUrlN`, `MediaContentTypeN`) as attachment metadata, kind MEDIA.
  Thread key `sms:<From>|<To>` (`whatsapp:<From>|<To>` for WhatsApp, numbers in E.164).
- `POST /webhooks/twilio/sms/status`: a status callback of a message we sent ->
  `DeliveryUpdate` for its `MessageSid` (accepted/scheduled/queued/sending -> queued,
  sent, delivered, read, failed/undelivered/canceled -> failed with `ErrorCode`). Statuses
  of inbound messages (`receiving`, `received`) are not about delivery: skipped.

Both answer empty TwiML once the event log has the events.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from fastapi import APIRouter, Request, Response

from adapters.channels.phone import to_e164
from adapters.channels.webhook import (
    envelope_errors,
    problem_responses,
    public_url,
    publish,
    read_body,
    require_media_type,
    require_secret,
    settings_of,
)
from router.channels import Channel, IdentityKind
from router.errors import BadSignature, InvalidPayload
from router.inbound.envelope import (
    Attachment,
    CustomerIdentity,
    DeliveryStatus,
    DeliveryUpdate,
    InboundMessage,
    MessageKind,
)

PROVIDER = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
TWIML = "text/xml"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
WHATSAPP_PREFIX = "whatsapp:"

# Twilio sends a few dozen parameters (an MMS with ten media about fifty); a body of
# thousands is not Twilio, and sorting it before the signature check would only cost time.
_MOST_FIELDS = 1000
# Twilio allows at most ten media per MMS; the bound keeps a forged count cheap.
_MOST_MEDIA = 50
_DEFAULT_PORTS = {"https": 443, "http": 80}
_SMS_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

Form = dict[str, str]


def twilio_signature(auth_token: bytes, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The `X-Twilio-Signature` Twilio computes for `url` and the POST parameters."""
    # Like Twilio's SDK: every distinct (key, value) pair once, by key and then value.
    signed = url + "".join(key + value for key, value in sorted(set(params)))
    return base64.b64encode(hmac.digest(auth_token, signed.encode(), "sha1")).decode()


def url_variants(url: str) -> list[str]:
    """`url` as given plus the same URL with its default port added or removed."""
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or (port is not None and port != default):
        return [url]
    if port is None:
        return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))]
    bare = parts.netloc.removesuffix(f":{port}")
    return [url, urlunsplit(parts._replace(netloc=bare))]


def verify_signature(
    auth_token: bytes, url: str, params: Iterable[tuple[str, str]], presented: str | None
) -> None:
    """Refuse (401) unless `presented` is Twilio's signature of `url` and `params`."""
    if not presented:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
    pairs = list(params)
    # Check every variant, not until the first match, so timing reveals nothing.
    matched = False
    for candidate in url_variants(url):
        expected = twilio_signature(auth_token, candidate, pairs).encode()
        matched |= hmac.compare_digest(expected, presented.strip().encode())
    if not matched:
        raise BadSignature(f"the {SIGNATURE_HEADER} does not match")


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The form's (key, value) pairs in order; 422 when it is not UTF-8 form data."""
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MOST_FIELDS,
        )
    except UnicodeError:
        raise InvalidPayload("body: not UTF-8 form data", field="body") from None
    except ValueError:
        raise InvalidPayload(f"body: more than {_MOST_FIELDS} fields", field="body") from None


async def signed_form(request: Request) -> Form:
    """The parameters of a Twilio request whose signature verified (else 401/413/415/422/503)."""
    settings = settings_of(request)
    token = require_secret(settings.twilio_auth_token, "ROUTER_TWILIO_AUTH_TOKEN")
    require_media_type(request, FORM)
    body = await read_body(request, settings.webhook_max_body_bytes)
    presented = request.headers.get(SIGNATURE_HEADER)
    if not presented:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
    pairs = parse_form(body)
    verify_signature(token, public_url(request), pairs, presented)
    return dict(pairs)


def required(form: Form, name: str, longest: int = 255) -> str:
    """A parameter that must be present, non-empty and at most `longest` characters."""
    value = form.get(name, "").strip()
    if not value:
        raise InvalidPayload(f"{name}: missing", field=name)
    if len(value) > longest:
        raise InvalidPayload(f"{name}: longer than {longest} characters", field=name)
    return value


def address(form: Form, name: str) -> tuple[bool, str]:
    """(is WhatsApp, E.164 number) of `From`/`To` (`+1415...` or `whatsapp:+1415...`)."""
    raw = required(form, name)
    try:
        return raw.startswith(WHATSAPP_PREFIX), to_e164(raw.removeprefix(WHATSAPP_PREFIX))
    except ValueError:
        raise InvalidPayload(f"{name}: not a phone number", field=name) from None


def twiml(body: bytes = EMPTY_TWIML) -> Response:
    """A TwiML answer."""
    return Response(body, media_type=TWIML)


def sms_message(form: Form) -> InboundMessage:
    """An inbound SMS, MMS or WhatsApp message as the router's envelope."""
    message_sid = required(form, "MessageSid")
    whatsapp, sender = address(form, "From")
    _, line = address(form, "To")
    channel = Channel.WHATSAPP if whatsapp else Channel.SMS
    attachments = _media(form)
    text = form.get("Body", "")
    metadata = {"message_type": channel.value}
    for name, key in (("Latitude", "latitude"), ("Longitude", "longitude")):
        if form.get(name):
            metadata[key] = form[name]
    if form.get("ButtonPayload"):
        metadata["button_payload"] = form["ButtonPayload"]
    return InboundMessage(
        channel=channel,
        provider=PROVIDER,
        provider_message_id=message_sid,
        conversation_key=f"{channel.value}:{sender}|{line}",
        customer=CustomerIdentity(
            kind=IdentityKind.WHATSAPP if whatsapp else IdentityKind.PHONE,
            value=sender,
            display_name=form.get("ProfileName", "").strip()[:200] or None,
        ),
        recipient=line,
        kind=MessageKind.MEDIA if attachments else MessageKind.TEXT,
        text=text,
        stripped_text=text,
        attachments=attachments,
        metadata=metadata,
    )


def _media(form: Form) -> tuple[Attachment, ...]:
    raw = form.get("NumMedia", "0").strip() or "0"
    if not raw.isdigit() or int(raw) > _MOST_MEDIA:
        raise InvalidPayload(f"NumMedia: not a count up to {_MOST_MEDIA}", field="NumMedia")
    return tuple(
        Attachment(
            content_type=form.get(f"MediaContentType{n}", "")[:255] or "application/octet-stream",
            url=required(form, f"MediaUrl{n}", longest=2048),
        )
        for n in range(int(raw))
    )


def delivery_update(form: Form) -> DeliveryUpdate | None:
    """A status callback of a message we sent; None for statuses that are not about delivery."""
    message_sid = required(form, "MessageSid")
    status = _SMS_STATUSES.get(required(form, "MessageStatus"))
    if status is None:
        return None
    # We sent it: the customer is `To`, our number `From`.
    whatsapp, customer = address(form, "To")
    _, line = address(form, "From")
    channel = Channel.WHATSAPP if whatsapp else Channel.SMS
    error = None
    if status is DeliveryStatus.FAILED:
        parts = (form.get("ErrorCode"), form.get("ErrorMessage"), form.get("MessageStatus"))
        error = ": ".join(part for part in parts if part)[:1000]
    return DeliveryUpdate(
        channel=channel,
        provider=PROVIDER,
        provider_message_id=message_sid,
        conversation_key=f"{channel.value}:{customer}|{line}",
        status=status,
        error=error,
    )


router = APIRouter(tags=["webhooks"])

TWIML_OK = {
    "description": "The event log has the event; empty TwiML",
    "content": {TWIML: {"example": EMPTY_TWIML.decode()}},
}
PROBLEMS = problem_responses(401, 413, 415, 422, 503)
SIGNED_FORM = {
    "parameters": [
        {"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"}}
    ],
    "requestBody": {"required": True, "content": {FORM: {"schema": {"type": "object"}}}},
}


@router.post(
    "/webhooks/twilio/sms",
    operation_id="webhook_twilio_sms",
    summary="Inbound SMS, MMS and WhatsApp-via-Twilio messages",
    response_class=Response,
    responses={200: TWIML_OK, **PROBLEMS},
    openapi_extra=SIGNED_FORM,
)
async def receive_sms(request: Request) -> Response:
    """Verify, normalise and publish one inbound message."""
    form = await signed_form(request)
    with envelope_errors():
        message = sms_message(form)
    await publish(request, [message])
    return twiml()


@router.post(
    "/webhooks/twilio/sms/status",
    operation_id="webhook_twilio_sms_status",
    summary="Delivery status of a message we sent",
    response_class=Response,
    responses={200: TWIML_OK, **PROBLEMS},
    openapi_extra=SIGNED_FORM,
)
async def receive_sms_status(request: Request) -> Response:
    """Verify and publish a message status callback as a delivery update."""
    form = await signed_form(request)
    with envelope_errors():
        update = delivery_update(form)
    await publish(request, [update] if update else [])
    return twiml()
