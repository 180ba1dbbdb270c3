"""Our own web-chat widget webhook: `POST /webhooks/chat`.

The widget's backend posts one JSON document per visitor message (schema: `ChatEvent`,
also published in the OpenAPI spec under `webhook_chat`):

    {"event_id": "evt_01J2Z6Q8", "site": "shop-main", "session_id": "s_5f2c",
     "visitor": {"id": "v_81d0", "name": "Ada", "email": "ada@example.com"},
     "text": "Is the blue one in stock?",
     "attachments": [{"filename": "cart.png", "content_type": "image/png",
                      "size": 48213, "url": "https://cdn.shop.example/u/cart.png"}],
     "sent_at": "2025-06-09T12:00:00Z",
     "verified": {"email": "ada@example.com", "phone": "+14155550199"}}

`verified` is optional: the visitor's email and/or phone as the company's own login verified
them. When present, the visitor's customer is linked to those identities (the email
lower-cased, the phone in E.164); `visitor.email`, which the visitor merely typed, never
links. A verified value that is not an address or an E.164-able number is kept in the
message's metadata and links nothing: the signed message is still taken.

Signing (our own scheme, Stripe-like): with the shared secret `ROUTER_WEBCHAT_SECRET`,

    X-Router-Timestamp: <unix seconds>
    X-Router-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw_body)>

The timestamp is inside the signed string, so a captured request cannot be replayed with
a fresh one; requests outside `ROUTER_REPLAY_WINDOW_SECONDS` (either side) are refused. While
rotating the secret, the sender signs with both and sends `v1=<new>,v1=<old>`; any one match
is enough. Other schemes (`v0=`, `v2=`) in the list are ignored so a later scheme can be
rolled out sender-first.

Each event becomes one `InboundMessage` on `Channel.CHAT`, keyed `chat:<site>|<session_id>`
and de-duplicated downstream by `event_id`. The answer is `200 {"status":"accepted"}` once
the event log has it.

A document with `"type": "reply.status"` (`ChatReplyStatus`) is instead the backend's news
about a reply the router posted to it (`adapters.outbound.webchat`): `delivered`, `read` or
`failed`, naming the reply by the `event_id` it was posted with. It becomes a
`DeliveryUpdate`. A document without `type` (or `"type": "message"`) is a visitor's message,
so the widget backends written before statuses existed stay valid.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
)

from adapters.channels.email.parsing import parse_mailboxes
from adapters.channels.phone import contact_number
from adapters.channels.webhook import (
    UNKNOWN_TAG,
    check_fresh,
    envelope_errors,
    hmac_hex,
    json_body,
    problem_responses,
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
from router.inbound.ports import Event

PROVIDER = "webchat"
TIMESTAMP_HEADER = "X-Router-Timestamp"
SIGNATURE_HEADER = "X-Router-Signature"
SIGNATURE_SCHEME = "v1"
ACCEPTED = b'{"status":"accepted"}'


class _Schema(BaseModel):
    # Unknown fields are ignored so the widget backend can ship a new field before we read it.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ChatVisitor(_Schema):
    """The person in the widget, as the widget identifies them."""

    id: Annotated[str, Field(min_length=1, max_length=320, description="Stable visitor id")]
    name: Annotated[str | None, Field(max_length=200, description="Display name")] = None
    email: Annotated[
        str | None, Field(max_length=320, description="Email address the visitor gave")
    ] = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # A bare address only: a display name or a second address would come back altered.
        _, address = parseaddr(value)
        local, at, domain = address.partition("@")
        if address != value.strip() or not (local and at and "." in domain) or "@" in domain:
            raise ValueError("not an email address")
        return address


class ChatVerified(_Schema):
    """What the company's own login verified about the visitor; each field is optional."""

    email: Annotated[
        str | None, Field(max_length=320, description="Email address the login verified")
    ] = None
    phone: Annotated[
        str | None,
        Field(max_length=64, description="Phone number the login verified, with its `+` prefix"),
    ] = None


class ChatAttachment(_Schema):
    """A file the visitor uploaded; the widget stores it and sends where it lives."""

    filename: Annotated[str, Field(min_length=1, max_length=255)]
    content_type: Annotated[
        str, Field(max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+(\s*;.*)?$", examples=["image/png"])
    ]
    size: Annotated[int, Field(ge=0, strict=True, description="Bytes")]
    url: Annotated[str, Field(max_length=2048, pattern=r"^https://\S+$")]


SITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid RFC 3339 string but no UTC instant.
        raise ValueError("out of range once in UTC") from None


class ChatEvent(_Schema):
    """One message a visitor wrote in the web-chat widget."""

    type: Annotated[
        Literal["message"], Field(description="Optional: a document without `type` is a message")
    ] = "message"
    event_id: Annotated[
        str, Field(min_length=1, max_length=255, description="Unique per message; dedupe key")
    ]
    visitor: ChatVisitor
    session_id: Annotated[
        str, Field(min_length=1, max_length=200, description="The widget's chat session")
    ]
    site: Annotated[
        str,
        Field(
            pattern=SITE_PATTERN,
            description="Our receiving widget/site id (no `|`: it separates the thread key)",
        ),
    ]
    text: Annotated[str, Field(max_length=20_000, description="May be empty with attachments")]
    attachments: Annotated[list[ChatAttachment], Field(max_length=20)] = []
    sent_at: Annotated[AwareDatetime, Field(strict=True, description="RFC 3339 with offset")]
    verified: ChatVerified | None = None

    @field_validator("sent_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class ChatReplyStatus(_Schema):
    """The widget backend's news about a reply the router posted to it."""

    type: Literal["reply.status"]
    event_id: Annotated[
        str, Field(min_length=1, max_length=255, description="Unique per status report")
    ]
    site: Annotated[str, Field(pattern=SITE_PATTERN, description="The reply's `site`")]
    session_id: Annotated[
        str, Field(min_length=1, max_length=200, description="The reply's `session_id`")
    ]
    reply_id: Annotated[
        str,
        Field(min_length=1, max_length=255, description="The `event_id` the reply was posted with"),
    ]
    status: Annotated[
        Literal["delivered", "read", "failed"],
        Field(description="Shown in the visitor's widget, seen by them, or not deliverable"),
    ]
    error: Annotated[str | None, Field(max_length=1000, description="Why, when `failed`")] = None
    at: Annotated[AwareDatetime, Field(strict=True, description="RFC 3339 with offset")]

    @field_validator("at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)


def _kind(document: Any) -> str:
    kind = document.get("type", "message") if isinstance(document, dict) else "message"
    return kind if isinstance(kind, str) else "message"


class ChatPost(
    RootModel[
        Annotated[
            Annotated[ChatEvent, Tag("message")] | Annotated[ChatReplyStatus, Tag("reply.status")],
            Discriminator(
                _kind,
                custom_error_type=UNKNOWN_TAG,
                custom_error_message="not `message` or `reply.status`",
            ),
        ]
    ]
):
    """What the widget backend posts: a visitor's message, or news about one of our replies."""


def chat_event_schema() -> dict[str, Any]:
    """The JSON schema of the request body, with nested models inlined for OpenAPI."""
    schema = ChatPost.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


def verify_signature(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signatures: str | None,
    window_seconds: int,
    *,
    now: float | None = None,
) -> None:
    """Check `X-Router-Signature` over `timestamp.body`, then the replay window."""
    if not signatures:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is missing")
    if not timestamp:
        raise BadSignature(f"the {TIMESTAMP_HEADER} header is missing")
    presented = []
    for item in signatures.split(","):
        scheme, _, value = item.strip().partition("=")
        if scheme == SIGNATURE_SCHEME and value:
            presented.append(value.strip().lower().encode())
    if not presented:
        raise BadSignature(f"the {SIGNATURE_HEADER} header has no {SIGNATURE_SCHEME}= signature")
    # Starlette decodes header values as latin-1; encoding back gives the bytes that were sent.
    expected = hmac_hex(secret, timestamp.encode("latin-1") + b"." + body).encode()
    # Compare with every candidate, not until the first match, so timing reveals nothing.
    matched = False
    for candidate in presented:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise BadSignature(f"the {SIGNATURE_HEADER} does not match")
    check_fresh(timestamp, window_seconds, now=now)


def parse_event(body: bytes) -> ChatEvent | ChatReplyStatus:
    """The body as a `ChatEvent` or `ChatReplyStatus`; else a 422 naming the field."""
    event = json_body(ChatPost, body, tagged=True).root
    if isinstance(event, ChatEvent) and not event.attachments and not event.text.strip():
        raise InvalidPayload("text: empty, and there are no attachments", field="text")
    return event


def verified_identities(
    verified: ChatVerified | None, metadata: dict[str, str]
) -> tuple[CustomerIdentity, ...] | None:
    """The identities the login verified; one we cannot read is noted in `metadata` instead."""
    if verified is None:
        return None
    found: list[CustomerIdentity] = []
    if verified.email is not None:
        mailboxes = parse_mailboxes(verified.email)
        if len(mailboxes) == 1 and mailboxes[0].address == verified.email.strip().lower():
            found.append(CustomerIdentity(kind=IdentityKind.EMAIL, value=mailboxes[0].address))
        else:
            metadata["verified_email_unread"] = verified.email
    if verified.phone is not None:
        number = contact_number(verified.phone)
        if number.normalised:
            found.append(number.identity(IdentityKind.PHONE))
        else:
            metadata["verified_phone_unread"] = verified.phone
    return tuple(found) or None


_REPLY_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


def to_update(report: ChatReplyStatus) -> DeliveryUpdate:
    """The router's envelope for the backend's news about a reply."""
    with envelope_errors():
        return DeliveryUpdate(
            channel=Channel.CHAT,
            provider=PROVIDER,
            provider_message_id=report.reply_id,
            conversation_key=f"chat:{report.site}|{report.session_id}",
            status=_REPLY_STATUSES[report.status],
            error=report.error if report.status == "failed" else None,
            provider_timestamp=report.at,
        )


def to_message(event: ChatEvent) -> InboundMessage:
    """The router's envelope for a visitor's message."""
    metadata = {"session_id": event.session_id}
    if event.visitor.email:
        metadata["visitor_email"] = event.visitor.email
    verified = verified_identities(event.verified, metadata)
    with envelope_errors():
        return InboundMessage(
            channel=Channel.CHAT,
            provider=PROVIDER,
            provider_message_id=event.event_id,
            conversation_key=f"chat:{event.site}|{event.session_id}",
            customer=CustomerIdentity(
                kind=IdentityKind.WEBCHAT,
                value=event.visitor.id,
                display_name=event.visitor.name or None,
            ),
            recipient=event.site,
            kind=MessageKind.MEDIA if event.attachments else MessageKind.TEXT,
            text=event.text,
            stripped_text=event.text,
            attachments=tuple(
                Attachment(
                    filename=item.filename,
                    content_type=item.content_type,
                    size=item.size,
                    url=item.url,
                )
                for item in event.attachments
            ),
            provider_timestamp=event.sent_at,
            metadata=metadata,
            verified_identities=verified,
        )


def chat_events(body: bytes) -> list[Event]:
    """The one router event a verified body stands for."""
    event = parse_event(body)
    return [to_update(event) if isinstance(event, ChatReplyStatus) else to_message(event)]


router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/chat",
    operation_id="webhook_chat",
    summary="A visitor's message from our web-chat widget, or news about a reply",
    response_class=Response,
    responses={
        200: {
            "description": "The event log has the message",
            "content": {"application/json": {"example": {"status": "accepted"}}},
        },
        **problem_responses(401, 413, 415, 422, 503),
    },
    openapi_extra={
        "parameters": [
            {
                "name": TIMESTAMP_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            },
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": chat_event_schema()}},
        },
    },
)
async def receive_chat(request: Request) -> Response:
    """Verify, normalise and publish one web-chat message."""
    settings = settings_of(request)
    secret = require_secret(settings.webchat_secret, "ROUTER_WEBCHAT_SECRET")
    require_media_type(request, "application/json")
    body = await read_body(request, settings.webhook_max_body_bytes)
    verify_signature(
        secret,
        body,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        settings.replay_window_seconds,
    )
    await publish(request, chat_events(body))
    return Response(ACCEPTED, media_type="application/json")
