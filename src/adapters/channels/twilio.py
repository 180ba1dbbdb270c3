"""Twilio webhooks: the request signature, and Programmable Messaging (SMS, MMS, WhatsApp).

Twilio signs every request with `X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL +
k1 v1 k2 v2 ...))`, the form parameters sorted by key and then value. The URL is the one
Twilio called, as it saw it: behind a proxy that is `ROUTER_PUBLIC_BASE_URL` + path + query.
Twilio's own SDK accepts that URL both with and without the scheme's default port (:443,
:80) because Twilio's signing side is not consistent about it; so do we. Twilio signs no
timestamp: a replay is made harmless by de-duplication on `MessageSid`/`CallSid`/... .

- `POST /webhooks/twilio/sms`: an inbound SMS/MMS, or a WhatsApp message when `From` starts
  with `whatsapp:`. -> `InboundMessage` on `Channel.SMS` (`IdentityKind.PHONE`) or
  `Channel.WHATSAPP` (`IdentityKind.WHATSAPP`); MMS media
  (`NumMedia`, `MediaUrlN`, `MediaContentTypeN`) as attachment metadata, kind MEDIA.
  Thread key `sms:<From>|<To>` (`whatsapp:<From>|<To>` for WhatsApp). Numbers are in E.164
  when they can be, else as Twilio gave them: a short code, an alphanumeric sender id or a
  number our numbering plan calls impossible is still a customer (see `phone.py`). The
  message is keyed by `MessageSid`, or by `SmsSid` on the older parameter set.
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

from adapters.channels.phone import ContactNumber, contact_number
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
    AttachmentStatus,
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


def address(form: Form, name: str, region: str | None = None) -> tuple[bool, ContactNumber]:
    """(is WhatsApp, the number) of `From`/`To` (`+1415...`, `whatsapp:+1415...`, `MyBank`)."""
    raw = required(form, name)
    whatsapp = raw[: len(WHATSAPP_PREFIX)].lower() == WHATSAPP_PREFIX
    number = contact_number(raw[len(WHATSAPP_PREFIX) :] if whatsapp else raw, region)
    if not number.value:
        raise InvalidPayload(f"{name}: missing", field=name)
    return whatsapp, ContactNumber(number.value, raw, number.normalised)


def sender(form: Form) -> tuple[bool, ContactNumber]:
    """(is WhatsApp, the number) of the customer who wrote.

    Without `From`, WhatsApp's `WaId` (the sender's number in digits) still names them.
    """
    if not form.get("From", "").strip() and form.get("WaId", "").strip():
        wa_id = required(form, "WaId")
        number = contact_number("+" + wa_id)
        return True, ContactNumber(
            number.value if number.normalised else wa_id, wa_id, number.normalised
        )
    return address(form, "From", _region(form.get("FromCountry")))


def message_sid(form: Form) -> str:
    """`MessageSid`, or `SmsSid` (`SmsMessageSid`) of Twilio's older parameter set."""
    for name in ("MessageSid", "SmsMessageSid", "SmsSid"):
        if form.get(name, "").strip():
            return required(form, name)
    raise InvalidPayload("MessageSid: missing", field="MessageSid")


def _region(country: str | None) -> str | None:
    # Twilio's `FromCountry` is ISO 3166 alpha-2; anything else reads no number.
    return country if country and len(country) == 2 and country.isalpha() else None


def twiml(body: bytes = EMPTY_TWIML) -> Response:
    """A TwiML answer."""
    return Response(body, media_type=TWIML)


def sms_message(form: Form) -> InboundMessage:
    """An inbound SMS, MMS or WhatsApp message as the router's envelope."""
    sid = message_sid(form)
    whatsapp, customer = sender(form)
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
        provider_message_id=sid,
        conversation_key=f"{channel.value}:{customer.value}|{line.value}",
        customer=customer.identity(
            IdentityKind.WHATSAPP if whatsapp else IdentityKind.PHONE,
            form.get("ProfileName", "").strip()[:200] or None,
        ),
        recipient=line.value,
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
            # Twilio serves it only with the account's credentials: fetched after storing.
            status=AttachmentStatus.PENDING,
        )
        for n in range(int(raw))
    )


def delivery_update(form: Form) -> DeliveryUpdate | None:
    """A status callback of a message we sent; None for statuses that are not about delivery."""
    sid = message_sid(form)
    status_field = "MessageStatus" if form.get("MessageStatus", "").strip() else "SmsStatus"
    if not form.get(status_field, "").strip():
        raise InvalidPayload("MessageStatus: missing", field="MessageStatus")
    status = _SMS_STATUSES.get(required(form, status_field))
    if status is None:
        return None
    # We sent it: the customer is `To`, our number `From`.
    whatsapp, customer = address(form, "To")
    _, line = address(form, "From")
    channel = Channel.WHATSAPP if whatsapp else Channel.SMS
    error = None
    if status is DeliveryStatus.FAILED:
        parts = (form.get("ErrorCode"), form.get("ErrorMessage"), form.get(status_field))
        error = ": ".join(part for part in parts if part)[:1000]
    return DeliveryUpdate(
        channel=channel,
        provider=PROVIDER,
        provider_message_id=sid,
        conversation_key=f"{channel.value}:{customer.value}|{line.value}",
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
