"""The canonical inbound envelope, carried as a CloudEvents 1.0 JSON value.

Every channel adapter turns a provider's webhook into one or more of these events; the
routing engine consumes them whether they came through Kafka or the inline transport.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_json

from router.channels import Channel, Direction, IdentityKind

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


class DeliveryStatus(StrEnum):
    """Where an outbound message is on its way to the customer."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CustomerIdentity(_Frozen):
    """How the customer is known on this channel: an address, an E.164 number or a user id."""

    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320)]
    display_name: Annotated[str | None, Field(max_length=200)] = None


class Attachment(_Frozen):
    """Metadata of an attachment; the content itself never travels on the topic."""

    filename: Annotated[str | None, Field(max_length=255)] = None
    content_type: Annotated[str, Field(max_length=255)] = "application/octet-stream"
    size: Annotated[int | None, Field(ge=0)] = None
    url: Annotated[str | None, Field(max_length=2048)] = None


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


class DeliveryUpdate(_Frozen):
    """A provider's news about a message we sent: delivered, read, failed."""

    type: Literal["router.message.delivery_updated"] = "router.message.delivery_updated"
    event_id: str = Field(default_factory=new_event_id)
    channel: Channel
    provider: Annotated[str, Field(min_length=1, max_length=40)]
    provider_message_id: Annotated[str, Field(min_length=1, max_length=255)]
    conversation_key: Annotated[str, Field(min_length=1, max_length=512)]
    status: DeliveryStatus
    error: Annotated[str | None, Field(max_length=1000)] = None
    provider_timestamp: AwareDatetime | None = None
    received_at: AwareDatetime = Field(default_factory=utcnow)


InboundEvent = Annotated[InboundMessage | DeliveryUpdate, Field(discriminator="type")]


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


def to_cloud_event(event: InboundMessage | DeliveryUpdate) -> CloudEvent:
    return CloudEvent(
        id=event.event_id,
        source=f"/webhooks/{event.provider}",
        type=event.type,
        time=event.received_at,
        subject=event.conversation_key,
        data=event,
    )


def encode(event: InboundMessage | DeliveryUpdate) -> bytes:
    """Serialise an event as the CloudEvents JSON value put on `router.inbound.v1`.

    The bytes are exactly those of `to_cloud_event(event).model_dump_json(exclude_none=True)`:
    the event serialised once, with the wrapper's attributes written around it in the
    wrapper's field order. Building the wrapper model would validate the event again, on
    every webhook.
    """
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
    data = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    return b"".join((attributes[:-1], b',"data":', data, b"}"))


def decode(value: bytes) -> InboundMessage | DeliveryUpdate:
    """Parse a `router.inbound.v1` value; raises `pydantic.ValidationError` when malformed."""
    return _cloud_event.validate_json(value).data


def partition_key(event: InboundMessage | DeliveryUpdate) -> bytes:
    """One conversation's events share a key, and so a partition, and so an order."""
    return event.conversation_key.encode()
