"""Meta webhooks: WhatsApp Cloud API, Messenger and Instagram on `/webhooks/meta`.

`GET /webhooks/meta` answers Meta's subscription handshake: `hub.mode=subscribe` and a
`hub.verify_token` equal to `ROUTER_META_VERIFY_TOKEN` get `hub.challenge` back as text.

`POST /webhooks/meta` carries notifications signed with `X-Hub-Signature-256:
sha256=<hex HMAC-SHA256(app secret, raw body)>`. Meta signs no timestamp, so a captured
request could be replayed at any time; what makes a replay harmless is that every event is
keyed by Meta's own message id (`wamid...`, `mid...`) and the router keeps at most one
message per provider id. One POST can batch many events across entries: all of them are
published together, and the answer (`200 EVENT_RECEIVED`) waits for the event log.

What each event becomes (thread keys: `whatsapp:<phone_number_id>|<wa_id>`,
`messenger:<page id>|<PSID>`, `instagram:<IG account id>|<IGSID>`; comments and mentions
have threads of their own, see `adapters.channels.meta_social`):

- WhatsApp `messages[]`: one `InboundMessage` on `Channel.WHATSAPP`, the customer known by
  their number (`IdentityKind.WHATSAPP`): E.164 when the numbering plan places it, else
  `from` as given (never refused; a missing `from` is read from the value's single contact).
  Its content is rendered by
  `adapters.channels.meta_content`: text -> TEXT; image/audio/video/document/sticker ->
  MEDIA; location -> LOCATION; contacts -> CONTACTS; order -> ORDER; interactive replies
  and buttons -> TEXT; reaction -> REACTION; system, unsupported, request_welcome,
  ephemeral -> SYSTEM (kept in the history, never offered to an agent by themselves).
  An ad's `referral` becomes `referral_*` metadata.
- WhatsApp `statuses[]`: sent/delivered/read/failed -> `DeliveryUpdate` (failed carries the
  errors' titles); other statuses (`deleted`, `warning`, ...) are not about delivery.
- Messenger/Instagram `messaging[]` and `standby[]`, and `changes[]` (comments, mentions,
  Page feed): see `adapters.channels.meta_social`.

An event left out on purpose (an echo, a status that is not about delivery, a change of a
field we do not take, an event whose shape we cannot read) is counted in
`router_webhook_events_ignored_total{provider="meta",reason=...}` with a debug log line;
the rest of the notification goes through and the answer is still 200.

Every message carries `metadata["message_type"]`; a reply's quoted message id goes to
`references`.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from adapters.channels.meta_content import referral_metadata, whatsapp_content
from adapters.channels.meta_parsing import (
    WaChange,
    WaContact,
    WaEntry,
    WaMessage,
    WaNotification,
    WaStatus,
    WaValue,
    from_seconds,
    parse_notification,
    skip,
    unreadable,
    validate,
)
from adapters.channels.meta_social import social_events
from adapters.channels.phone import ContactNumber, contact_number
from adapters.channels.webhook import (
    envelope_errors,
    hmac_hex,
    problem_responses,
    publish,
    read_body,
    require_media_type,
    require_secret,
    settings_of,
    verify_equal,
)
from router.channels import Channel, IdentityKind
from router.errors import InvalidPayload, ProblemError
from router.inbound.envelope import (
    DeliveryStatus,
    DeliveryUpdate,
    InboundMessage,
)
from router.inbound.ports import Event

PROVIDER = "meta"
SIGNATURE_HEADER = "X-Hub-Signature-256"
RECEIVED = b"EVENT_RECEIVED"
# Meta documents the challenge as an integer; anything far longer is not Meta.
_LONGEST_CHALLENGE = 256

_WA_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


class VerificationRefused(ProblemError):
    status = 403
    problem = "verification-refused"
    title = "The subscription verification was refused"


router = APIRouter(tags=["webhooks"])


@router.get(
    "/webhooks/meta",
    operation_id="webhook_meta_verify",
    summary="Meta's subscription handshake: echo hub.challenge for the right verify token",
    response_class=Response,
    responses={
        200: {"description": "The challenge, verbatim", "content": {"text/plain": {}}},
        **problem_responses(403, 422, 503),
    },
    openapi_extra={
        "parameters": [
            {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
            for name in ("hub.mode", "hub.verify_token", "hub.challenge")
        ]
    },
)
async def verify_subscription(request: Request) -> Response:
    """Answer Meta's GET handshake with the challenge when the verify token matches."""
    token = require_secret(settings_of(request).meta_verify_token, "ROUTER_META_VERIFY_TOKEN")
    query = request.query_params
    if query.get("hub.mode") != "subscribe":
        raise VerificationRefused("hub.mode must be subscribe")
    if not hmac.compare_digest(token, query.get("hub.verify_token", "").encode()):
        raise VerificationRefused("hub.verify_token does not match")
    challenge = query.get("hub.challenge", "")
    if not challenge or len(challenge) > _LONGEST_CHALLENGE:
        raise InvalidPayload("hub.challenge: missing or too long", field="hub.challenge")
    # The challenge is caller-chosen text: never let a browser sniff it into HTML.
    return Response(
        challenge, media_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


@router.post(
    "/webhooks/meta",
    operation_id="webhook_meta",
    summary="WhatsApp, Messenger and Instagram notifications",
    response_class=Response,
    responses={
        200: {
            "description": "The event log has every event of the notification",
            "content": {"text/plain": {"example": "EVENT_RECEIVED"}},
        },
        **problem_responses(401, 413, 415, 422, 503),
    },
    openapi_extra={
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
            }
        ],
        "requestBody": {"required": True, "content": {"application/json": {}}},
    },
)
async def receive_meta(request: Request) -> Response:
    """Verify, normalise and publish every event of one Meta notification."""
    settings = settings_of(request)
    secret = require_secret(settings.meta_app_secret, "ROUTER_META_APP_SECRET")
    require_media_type(request, "application/json")
    body = await read_body(request, settings.webhook_max_body_bytes)
    verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER))
    await publish(request, notification_events(body))
    return Response(RECEIVED, media_type="text/plain")


def verify_signature(secret: bytes, body: bytes, header: str | None) -> None:
    """Check `X-Hub-Signature-256` (`sha256=<hex>`) over the raw body."""
    expected = "sha256=" + hmac_hex(secret, body)
    verify_equal(expected, header.strip().lower() if header else None, SIGNATURE_HEADER)


def notification_events(body: bytes) -> list[Event]:
    """Every router event in one Meta notification, in the order Meta listed them."""
    notification = parse_notification(body)
    with envelope_errors():
        if isinstance(notification, WaNotification):
            return whatsapp_events(notification)
        if notification is not None:
            return social_events(notification)
    return []


def whatsapp_events(notification: WaNotification) -> list[Event]:
    """WhatsApp Cloud API messages and statuses, one event each."""
    events: list[Event] = []
    for i, item in enumerate(notification.entry):
        try:
            entry = validate(WaEntry, item, f"entry[{i}]")
        except InvalidPayload as error:
            unreadable(f"entry[{i}]", error)
            continue
        for j, found in enumerate(entry.changes):
            path = f"entry[{i}].changes[{j}]"
            try:
                events.extend(_wa_change(validate(WaChange, found, path), f"{path}.value"))
            except (InvalidPayload, ValidationError) as error:
                unreadable(path, error)
    return events


def _wa_change(change: WaChange, path: str) -> list[Event]:
    if change.field != "messages":
        skip("other_field", path, change.field)
        return []
    value = validate(WaValue, change.value, path)
    if value.metadata is None:
        if value.messages or value.statuses:
            raise InvalidPayload(f"{path}.metadata: missing", field=f"{path}.metadata")
        return []
    line = value.metadata.phone_number_id
    names: dict[str, str | None] = {}
    senders: set[str] = set()
    for contact in value.contacts:
        # A profile we cannot read costs the name, never the message.
        try:
            card = WaContact.model_validate(contact)
        except ValidationError:
            continue
        if card.wa_id:
            senders.add(card.wa_id)
            if card.profile:
                names[card.wa_id] = card.profile.name
    events: list[Event] = []
    for k, item in enumerate(value.messages):
        where = f"{path}.messages[{k}]"
        try:
            message = validate(WaMessage, item, where)
            # A message without `from` is still the customer's when the value names only one.
            if message.sender is None and len(senders) == 1:
                message = message.model_copy(update={"sender": next(iter(senders))})
            events.append(_wa_message(message, line, names, where))
        except (InvalidPayload, ValidationError) as error:
            unreadable(where, error)
    for k, item in enumerate(value.statuses):
        where = f"{path}.statuses[{k}]"
        try:
            update = _wa_status(validate(WaStatus, item, where), line, where)
        except (InvalidPayload, ValidationError) as error:
            unreadable(where, error)
            continue
        if update is not None:
            events.append(update)
    return events


def _wa_message(
    message: WaMessage, line: str, names: dict[str, str | None], path: str
) -> InboundMessage:
    if message.sender is None:
        raise InvalidPayload(f"{path}.from: missing", field=f"{path}.from")
    # `from` is the number in international form without `+`; kept as given when the
    # numbering plan cannot place it (Mexico's `521...`), never refused.
    e164 = contact_number("+" + message.sender.removeprefix("+"))
    number = ContactNumber(
        e164.value if e164.normalised else message.sender.strip(), message.sender, e164.normalised
    )
    content = whatsapp_content(message, path)
    metadata = {"message_type": message.type, **content.metadata}
    if message.referral is not None:
        metadata.update(referral_metadata(message.referral))
    errors = "; ".join(error.title for error in message.errors if error.title)
    if errors:
        metadata["provider_error"] = errors[:1000]
    references = content.references
    if message.context and message.context.id and message.context.id not in references:
        references = (*references, message.context.id)
    return InboundMessage(
        channel=Channel.WHATSAPP,
        provider=PROVIDER,
        provider_message_id=message.id,
        conversation_key=f"whatsapp:{line}|{message.sender}",
        customer=number.identity(IdentityKind.WHATSAPP, _display_name(names.get(message.sender))),
        recipient=line,
        kind=content.kind,
        text=content.text,
        stripped_text=content.text,
        attachments=content.attachments,
        references=references,
        provider_timestamp=from_seconds(message.timestamp),
        metadata=metadata,
    )


def _wa_status(status: WaStatus, line: str, path: str) -> DeliveryUpdate | None:
    state = _WA_STATUSES.get(status.status)
    if state is None:
        skip("not_delivery", path, status.status)
        return None
    errors = "; ".join(
        f"{error.code}: {error.title}" if error.code is not None else error.title
        for error in status.errors
        if error.title
    )
    return DeliveryUpdate(
        channel=Channel.WHATSAPP,
        provider=PROVIDER,
        provider_message_id=status.id,
        conversation_key=f"whatsapp:{line}|{status.recipient_id}",
        status=state,
        error=errors[:1000] or None,
        provider_timestamp=from_seconds(status.timestamp),
    )


def _display_name(name: str | None) -> str | None:
    # A long profile name is no reason to refuse a customer's message.
    return (name.strip()[:200] or None) if name else None
