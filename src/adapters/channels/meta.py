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
`messenger:<page id>|<PSID>`, `instagram:<IG account id>|<IGSID>`):

- WhatsApp `messages[]`: one `InboundMessage` on `Channel.WHATSAPP`, the customer known by
  their number (`IdentityKind.WHATSAPP`): E.164 when the numbering plan places it, else `from`
  as given (never refused; a missing `from` is read from the value's single contact). text -> TEXT;
  image/audio/video/document/sticker -> MEDIA with one `Attachment` (mime type, the
  media `url` when Meta sends one; the media id in `metadata["media_id"]`, caption as text);
  location -> TEXT with its name/address and `latitude`/`longitude` metadata;
  interactive button/list replies and template buttons -> TEXT with the title the customer
  tapped; any other type (`unsupported`, `contacts`, `system`, ...) -> TEXT with text "".
- WhatsApp `statuses[]`: sent/delivered/read/failed -> `DeliveryUpdate` (failed carries the
  errors' titles); other statuses (`deleted`, `warning`, ...) are not about delivery: skipped.
- Messenger/Instagram `messaging[]`: `message` -> `InboundMessage` (attachments by URL);
  `postback` -> TEXT with the button's title; `delivery.mids[]` -> DELIVERED per mid;
  `read.mid` -> READ (a `read.watermark` alone names no message: skipped).
- Skipped on purpose: `message.is_echo` (our own outbound message coming back),
  `message.is_deleted` (an unsend), and reactions on every network: a reaction is not a
  message an agent must answer, and routing one would reopen resolved conversations.

Every message carries `metadata["message_type"]`; a reply's quoted message id goes to
`references`. A malformed entry is left out and the rest of the notification published; only
a notification with nothing but malformed entries is refused (422).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from adapters.channels.meta_parsing import (
    MsDelivery,
    MsEvent,
    MsNotification,
    Refusals,
    WaChange,
    WaMedia,
    WaMessage,
    WaNotification,
    WaStatus,
    WaValue,
    from_millis,
    from_seconds,
    parse_notification,
    validate,
)
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
    Attachment,
    CustomerIdentity,
    DeliveryStatus,
    DeliveryUpdate,
    InboundMessage,
    MessageKind,
)
from router.inbound.ports import Event

PROVIDER = "meta"
SIGNATURE_HEADER = "X-Hub-Signature-256"
RECEIVED = b"EVENT_RECEIVED"
# Meta documents the challenge as an integer; anything far longer is not Meta.
_LONGEST_CHALLENGE = 256

_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
_WA_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}
# Messenger names the kind of an attachment, not its MIME type.
_MS_CONTENT_TYPES = {"image": "image/*", "audio": "audio/*", "video": "video/*"}
_SOCIAL = {
    "page": (Channel.MESSENGER, IdentityKind.MESSENGER),
    "instagram": (Channel.INSTAGRAM, IdentityKind.INSTAGRAM),
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
    refusals = Refusals()
    events: list[Event] = []
    with envelope_errors():
        if isinstance(notification, WaNotification):
            events = whatsapp_events(notification, refusals)
        elif isinstance(notification, MsNotification):
            channel, identity = _SOCIAL[notification.object]
            events = social_events(notification, channel, identity, refusals)
    refusals.settle(events)
    return events


def whatsapp_events(notification: WaNotification, refusals: Refusals) -> list[Event]:
    """WhatsApp Cloud API messages and statuses, one event each; bad ones go to `refusals`."""
    events: list[Event] = []
    for i, entry in enumerate(notification.entry):
        for j, raw_change in enumerate(entry.changes):
            with refusals.entry():
                change = validate(WaChange, raw_change, f"entry[{i}].changes[{j}]")
                if change.field == "messages":
                    path = f"entry[{i}].changes[{j}].value"
                    _wa_value(validate(WaValue, change.value, path), path, events, refusals)
    return events


def _wa_value(value: WaValue, path: str, events: list[Event], refusals: Refusals) -> None:
    if value.metadata is None:
        if value.messages or value.statuses:
            raise InvalidPayload(f"{path}.metadata: missing", field=f"{path}.metadata")
        return
    line = value.metadata.phone_number_id
    names = {c.wa_id: c.profile.name for c in value.contacts if c.profile and c.wa_id}
    # A message without `from` is still the customer's when the value names only one.
    senders = {c.wa_id for c in value.contacts if c.wa_id}
    for k, raw_message in enumerate(value.messages):
        with refusals.entry():
            message = validate(WaMessage, raw_message, f"{path}.messages[{k}]")
            if message.sender is None and len(senders) == 1:
                message = message.model_copy(update={"sender": next(iter(senders))})
            found = _wa_message(message, line, names, f"{path}.messages[{k}]")
            if found is not None:
                events.append(found)
    for k, raw_status in enumerate(value.statuses):
        with refusals.entry():
            status = validate(WaStatus, raw_status, f"{path}.statuses[{k}]")
            update = _wa_status(status, line, f"{path}.statuses[{k}]")
            if update is not None:
                events.append(update)


def _wa_message(
    message: WaMessage, line: str, names: dict[str, str | None], path: str
) -> InboundMessage | None:
    if message.type == "reaction":
        return None
    if message.sender is None:
        raise InvalidPayload(f"{path}.from: missing", field=f"{path}.from")
    # `from` is the number in international form without `+`; kept as given when the
    # numbering plan cannot place it (Mexico's `521...`), never refused.
    e164 = contact_number("+" + message.sender.removeprefix("+"))
    number = ContactNumber(
        e164.value if e164.normalised else message.sender.strip(), message.sender, e164.normalised
    )
    text, kind = "", MessageKind.TEXT
    attachments: tuple[Attachment, ...] = ()
    metadata = {"message_type": message.type}
    if message.type == "text":
        if message.text is None:
            raise InvalidPayload(f"{path}.text: missing", field=f"{path}.text")
        text = message.text.body
    elif message.type in _MEDIA_TYPES:
        media: WaMedia | None = getattr(message, message.type)
        if media is None:
            raise InvalidPayload(f"{path}.{message.type}: missing", field=f"{path}.{message.type}")
        text, kind = media.caption or "", MessageKind.MEDIA
        attachments = (
            Attachment(
                filename=media.filename,
                content_type=media.mime_type or "application/octet-stream",
                url=media.url,
            ),
        )
        if media.id:
            metadata["media_id"] = media.id
    elif message.type == "location" and message.location is not None:
        place = message.location
        text = ", ".join(part for part in (place.name, place.address) if part)
        metadata.update(latitude=str(place.latitude), longitude=str(place.longitude))
    elif message.type == "interactive" and message.interactive is not None:
        reply = message.interactive.button_reply or message.interactive.list_reply
        text = (reply.title or "") if reply else ""
        if reply and reply.id:
            metadata["reply_id"] = reply.id
    elif message.type == "button" and message.button is not None:
        text = message.button.text or ""
        if message.button.payload:
            metadata["button_payload"] = message.button.payload
    errors = "; ".join(error.title for error in message.errors if error.title)
    if errors:
        metadata["provider_error"] = errors[:1000]
    return InboundMessage(
        channel=Channel.WHATSAPP,
        provider=PROVIDER,
        provider_message_id=message.id,
        conversation_key=f"whatsapp:{line}|{message.sender}",
        customer=number.identity(IdentityKind.WHATSAPP, _display_name(names.get(message.sender))),
        recipient=line,
        kind=kind,
        text=text,
        stripped_text=text,
        attachments=attachments,
        references=(message.context.id,) if message.context and message.context.id else (),
        provider_timestamp=from_seconds(message.timestamp),
        metadata=metadata,
    )


def _wa_status(status: WaStatus, line: str, path: str) -> DeliveryUpdate | None:
    state = _WA_STATUSES.get(status.status)
    if state is None:
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


def social_events(
    notification: MsNotification, channel: Channel, identity: IdentityKind, refusals: Refusals
) -> list[Event]:
    """Messenger or Instagram messaging events (same shape), one router event each."""
    events: list[Event] = []
    for i, entry in enumerate(notification.entry):
        for j, raw_event in enumerate(entry.messaging):
            path = f"entry[{i}].messaging[{j}]"
            with refusals.entry():
                _social_event(validate(MsEvent, raw_event, path), channel, identity, path, events)
    return events


def _social_event(
    event: MsEvent, channel: Channel, identity: IdentityKind, path: str, events: list[Event]
) -> None:
    # Inbound events come from the customer to our page or account.
    customer, business = event.sender.id, event.recipient.id
    key = f"{channel.value}:{business}|{customer}"
    at = from_millis(event.timestamp)
    found = _social_message(event, channel, identity, key, path)
    if found is not None:
        events.append(found)
    updates = [(mid, DeliveryStatus.DELIVERED) for mid in (event.delivery or MsDelivery()).mids]
    if event.read is not None and event.read.mid:
        updates.append((event.read.mid, DeliveryStatus.READ))
    for mid, state in updates:
        events.append(
            DeliveryUpdate(
                channel=channel,
                provider=PROVIDER,
                provider_message_id=mid,
                conversation_key=key,
                status=state,
                provider_timestamp=at,
            )
        )


def _social_message(
    event: MsEvent, channel: Channel, identity: IdentityKind, key: str, path: str
) -> InboundMessage | None:
    message, postback = event.message, event.postback
    metadata: dict[str, str] = {}
    attachments: tuple[Attachment, ...] = ()
    references: tuple[str, ...] = ()
    if message is not None:
        if message.is_echo or message.is_deleted:
            return None
        message_id, text = message.mid, message.text or ""
        attachments = tuple(
            Attachment(
                content_type=_MS_CONTENT_TYPES.get(item.type, "application/octet-stream"),
                url=item.payload.url,
            )
            for item in message.attachments
            if item.payload is not None and item.payload.url
        )
        if message.is_unsupported:
            metadata["message_type"] = "unsupported"
        elif message.attachments:
            metadata["message_type"] = ",".join(item.type for item in message.attachments)
        else:
            metadata["message_type"] = "text"
        if message.quick_reply and message.quick_reply.payload:
            metadata["quick_reply_payload"] = message.quick_reply.payload
        if message.reply_to and message.reply_to.mid:
            references = (message.reply_to.mid,)
    elif postback is not None:
        text, metadata["message_type"] = postback.title or "", "postback"
        if postback.payload:
            metadata["postback_payload"] = postback.payload
        if postback.mid:
            message_id = postback.mid
        elif event.timestamp is not None:
            # Older postbacks carry no mid; sender and time identify a redelivery just as well.
            message_id = f"postback:{event.sender.id}:{event.timestamp}"
        else:
            raise InvalidPayload(f"{path}.postback.mid: missing", field=f"{path}.postback.mid")
    else:
        return None
    return InboundMessage(
        channel=channel,
        provider=PROVIDER,
        provider_message_id=message_id,
        conversation_key=key,
        customer=CustomerIdentity(kind=identity, value=event.sender.id),
        recipient=event.recipient.id,
        kind=MessageKind.MEDIA if attachments else MessageKind.TEXT,
        text=text,
        stripped_text=text,
        attachments=attachments,
        references=references,
        provider_timestamp=from_millis(event.timestamp),
        metadata=metadata,
    )


def _display_name(name: str | None) -> str | None:
    # A long profile name is no reason to refuse a customer's message.
    return (name.strip()[:200] or None) if name else None
