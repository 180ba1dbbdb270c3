"""The canonical inbound envelope, carried as a CloudEvents 1.0 JSON value.

Every channel adapter turns a provider's webhook into one or more of these events; the
routing engine consumes them whether they came through Kafka or the inline transport.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic_core import PydanticSerializationError, to_json

from router.channels import Channel, Direction, IdentityKind
from router.inbound.storable import storable_model

log = logging.getLogger(__name__)

SPEC_VERSION = "1.0"


# The version (4) and variant (RFC 9562) bits of a random UUID.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_event_id() -> str:
    """A random (version 4) UUID in its canonical text form, as `str(uuid.uuid4())` gives."""
    digits = f"{int.from_bytes(os.urandom(16)) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class MessageKind(StrEnum):
    """What the customer did: wrote, sent media or cards, called, reacted, commented...

    Values fit the message row's `kind` column (16 characters).
    """

    TEXT = "text"
    MEDIA = "media"
    CALL = "call"
    VOICEMAIL = "voicemail"
    LOCATION = "location"
    CONTACTS = "contacts"
    ORDER = "order"
    # A story mention, or a share of a story (a reply to a story is text quoting it).
    STORY = "story"
    # Public posts' comments and mentions: conversations of their own, apart from the DMs.
    COMMENT = "comment"
    MENTION = "mention"
    REACTION = "reaction"
    # A provider's notice about the thread (number changed, first opened, unsupported...).
    SYSTEM = "system"

    @property
    def wakes_agent(self) -> bool:
        """Whether it asks for an answer: opens, reopens and routes its conversation."""
        return self not in _QUIET_KINDS

    @property
    def is_public(self) -> bool:
        """Whether it was said in public (under a post), apart from private messages."""
        return self in _PUBLIC_KINDS


# Recorded in the history, never offered to an agent by themselves.
_QUIET_KINDS = frozenset({MessageKind.REACTION, MessageKind.SYSTEM})
_PUBLIC_KINDS = frozenset({MessageKind.COMMENT, MessageKind.MENTION})
PUBLIC_KINDS = tuple(kind.value for kind in _PUBLIC_KINDS)


class Automated(StrEnum):
    """A message no person wrote: it joins the history and never wakes an agent."""

    AUTO_REPLY = "auto_reply"  # an out-of-office, an autoresponder, a read receipt, list mail
    BOUNCE = "bounce"  # a mail system's delivery status notification


class DeliveryStatus(StrEnum):
    """Where an outbound message is on its way to the customer."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class CallStatus(StrEnum):
    """Where a call is: Twilio's call progress statuses."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def rank(self) -> int:
        """Later in a call's life is higher; a status never gives way to a lower one."""
        return _CALL_STATUS_RANK[self]

    @property
    def is_final(self) -> bool:
        return self.rank == _FINAL_RANK


_FINAL_RANK = 3
_CALL_STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 0,
    CallStatus.RINGING: 1,
    CallStatus.IN_PROGRESS: 2,
    CallStatus.COMPLETED: _FINAL_RANK,
    CallStatus.BUSY: _FINAL_RANK,
    CallStatus.NO_ANSWER: _FINAL_RANK,
    CallStatus.FAILED: _FINAL_RANK,
    CallStatus.CANCELED: _FINAL_RANK,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CustomerIdentity(_Frozen):
    """How the customer is known on this channel: an address, a phone number or a user id.

    For a phone number (SMS, voice, WhatsApp) `value` is E.164 when `normalised` is true,
    else the provider's value as given (a short code, an alphanumeric sender id, a number
    the numbering plan does not know); `provider_value` keeps the provider's own text.
    """

    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320)]
    display_name: Annotated[str | None, Field(max_length=200)] = None
    normalised: bool | None = Field(
        default=None, description="Phone numbers: whether `value` is the E.164 form"
    )
    provider_value: Annotated[str | None, Field(max_length=320)] = Field(
        default=None, description="Phone numbers: the sender exactly as the provider signed it"
    )


class AttachmentStatus(StrEnum):
    """Where an attachment's bytes are: kept, on their way, or not kept and why."""

    STORED = "stored"  # in the blob store under `blob_key`
    PENDING = "pending"  # hosted by the provider; fetched after the message is stored
    FAILED = "failed"  # fetching it gave up (`reason`)
    REFUSED = "refused"  # too large, a type not allowed, or bytes unlike their type (`reason`)


class Attachment(_Frozen):
    """An attachment's metadata; the content itself never travels on the topic.

    Its bytes are in the blob store under `blob_key` once `status` is `stored`: written by
    the webhook before the event is published (email parts), or fetched from the provider
    after the message is stored (`pending` media). No status: metadata only, as given.
    """

    filename: Annotated[str | None, Field(max_length=255)] = None
    content_type: Annotated[str, Field(max_length=255)] = "application/octet-stream"
    size: Annotated[int | None, Field(ge=0)] = None
    url: Annotated[str | None, Field(max_length=2048)] = None
    status: AttachmentStatus | None = None
    reason: Annotated[str | None, Field(max_length=500)] = Field(
        default=None, description="Why the bytes were refused or could not be fetched"
    )
    blob_key: Annotated[str | None, Field(max_length=128)] = None
    sha256: Annotated[str | None, Field(pattern="^[0-9a-f]{64}$")] = None
    sniffed_type: Annotated[str | None, Field(max_length=255)] = Field(
        default=None, description="The type the content's first bytes show"
    )
    media_id: Annotated[str | None, Field(max_length=255)] = Field(
        default=None, description="The provider's id of hosted media (WhatsApp media id)"
    )


class InboundMessage(_Frozen):
    """A customer's message (or call, or voicemail) as the router sees it."""

    type: Literal["router.message.received"] = "router.message.received"
    event_id: str = Field(default_factory=new_event_id)
    channel: Channel
    provider: Annotated[str, Field(min_length=1, max_length=40)]
    provider_message_id: Annotated[str, Field(min_length=1, max_length=255)]
    conversation_key: Annotated[str, Field(min_length=1, max_length=512)]
    customer: CustomerIdentity
    recipient: Annotated[str, Field(min_length=1, max_length=320)]
    direction: Direction = Direction.INBOUND
    kind: MessageKind = MessageKind.TEXT
    subject: Annotated[str | None, Field(max_length=998)] = None
    text: str = ""
    stripped_text: str = ""
    attachments: tuple[Attachment, ...] = ()
    references: tuple[str, ...] = ()
    provider_timestamp: AwareDatetime | None = None
    received_at: AwareDatetime = Field(default_factory=utcnow)
    metadata: dict[str, str] = Field(default_factory=dict)
    # Set on auto-replies and bounces (RFC 3834, RFC 3464): stored, never routed or answered.
    automated: Automated | None = None
    verified_identities: Annotated[tuple[CustomerIdentity, ...] | None, Field(max_length=4)] = (
        Field(
            default=None,
            description=(
                "More identities of the sender, verified by the company's own login (web chat):"
                " the sender's customer is linked to them. Absent when there are none."
            ),
        )
    )


class DeliveryUpdate(_Frozen):
    """A provider's news about a message we sent: delivered, read, failed.

    It names one message (`provider_message_id`), or, from providers that report by
    watermark (Messenger), every message we sent on the conversation up to `watermark`.
    """

    type: Literal["router.message.delivery_updated"] = "router.message.delivery_updated"
    event_id: str = Field(default_factory=new_event_id)
    channel: Channel
    provider: Annotated[str, Field(min_length=1, max_length=40)]
    provider_message_id: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    watermark: AwareDatetime | None = Field(
        default=None,
        description="Instead of one message: every message sent on the conversation up to then",
    )
    conversation_key: Annotated[str, Field(min_length=1, max_length=512)]
    status: DeliveryStatus
    error: Annotated[str | None, Field(max_length=1000)] = None
    provider_timestamp: AwareDatetime | None = None
    received_at: AwareDatetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _one_target(self) -> DeliveryUpdate:
        if (self.provider_message_id is None) == (self.watermark is None):
            raise ValueError("name exactly one of provider_message_id and watermark")
        return self


class CallUpdate(_Frozen):
    """A call's progress (ringing, in progress, its outcome and duration).

    It updates the call's message (`provider_message_id` is the call's id, as on the
    message). `call` is that message as published when the call rang, without a status;
    it is stored only when the call's own message never was (a call we placed has none),
    so no outcome is lost.
    """

    type: Literal["router.call.updated"] = "router.call.updated"
    event_id: str = Field(default_factory=new_event_id)
    provider: Annotated[str, Field(min_length=1, max_length=40)]
    provider_message_id: Annotated[str, Field(min_length=1, max_length=255)]
    conversation_key: Annotated[str, Field(min_length=1, max_length=512)]
    status: CallStatus
    duration_seconds: Annotated[int | None, Field(ge=0)] = None
    call: InboundMessage
    provider_timestamp: AwareDatetime | None = None
    received_at: AwareDatetime = Field(default_factory=utcnow)


InboundEvent = Annotated[InboundMessage | DeliveryUpdate | CallUpdate, Field(discriminator="type")]
Event = InboundMessage | DeliveryUpdate | CallUpdate


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 structured-mode JSON wrapper around an inbound event."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: AwareDatetime
    subject: str
    datacontenttype: Literal["application/json"] = "application/json"
    data: InboundEvent


_cloud_event = TypeAdapter(CloudEvent)


def to_cloud_event(event: Event) -> CloudEvent:
    return CloudEvent(
        id=event.event_id,
        source=f"/webhooks/{event.provider}",
        type=event.type,
        time=event.received_at,
        subject=event.conversation_key,
        data=event,
    )


# Where a message records which of its fields had characters replaced to be storable.
REPLACED_METADATA_KEY = "replaced_unstorable"


def storable(event: Event) -> Event:
    """The event with NUL and lone surrogates replaced by U+FFFD in every text field.

    PostgreSQL stores neither, and a provider's signed message is never refused for them.
    A message lists the fields changed under `metadata["replaced_unstorable"]`; an event
    that needed nothing is returned as itself.
    """
    cleaned, fields = storable_model(event)
    if not fields:
        return event
    if isinstance(cleaned, InboundMessage):
        noted = {**cleaned.metadata, REPLACED_METADATA_KEY: ",".join(fields)}
        cleaned = cleaned.model_copy(update={"metadata": noted})
    log.info(
        "unstorable characters replaced",
        extra={"event_id": cleaned.event_id, "provider": cleaned.provider, "fields": fields},
    )
    return cleaned


def _event_json(event: Event) -> bytes | None:
    try:
        return event.__pydantic_serializer__.to_json(event, exclude_none=True)
    except PydanticSerializationError:  # a lone surrogate: UTF-8 cannot encode it
        return None


def encode(event: Event) -> bytes:
    """Serialise an event as the CloudEvents JSON value put on `router.inbound.v1`.

    The bytes are exactly those of `to_cloud_event(storable(event))
    .model_dump_json(exclude_none=True)`: the event serialised once, with the wrapper's
    attributes written around it in the wrapper's field order. Building the wrapper model
    would validate the event again, on every webhook. Both transports encode every event,
    so this is where text is made storable; the serialised bytes tell cheaply whether any
    needs it (a NUL is written `\\u0000`, a lone surrogate cannot be written at all).
    """
    data = _event_json(event)
    if data is None or b"\\u0000" in data:
        event = storable(event)
        data = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    attributes = to_json(
        {
            "specversion": SPEC_VERSION,
            "id": event.event_id,
            "source": f"/webhooks/{event.provider}",
            "type": event.type,
            "time": event.received_at,
            "subject": event.conversation_key,
            "datacontenttype": "application/json",
        }
    )
    return b"".join((attributes[:-1], b',"data":', data, b"}"))


def decode(value: bytes) -> Event:
    """Parse a `router.inbound.v1` value; raises `pydantic.ValidationError` when malformed.

    A NUL written before `encode` replaced them (an older producer's record) is replaced here.
    """
    event = _cloud_event.validate_json(value).data
    return storable(event) if b"\\u0000" in value else event


def partition_key(event: Event) -> bytes:
    """One conversation's events share a key, and so a partition, and so an order."""
    return event.conversation_key.encode()
