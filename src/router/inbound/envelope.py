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

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
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
    """What the customer did: wrote something, called, or left a voicemail."""

    TEXT = "text"
    MEDIA = "media"
    CALL = "call"
    VOICEMAIL = "voicemail"


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


# Where a message records which of its fields had characters replaced to be storable.
REPLACED_METADATA_KEY = "replaced_unstorable"


def storable(event: InboundMessage | DeliveryUpdate) -> InboundMessage | DeliveryUpdate:
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


def _event_json(event: InboundMessage | DeliveryUpdate) -> bytes | None:
    try:
        return event.__pydantic_serializer__.to_json(event, exclude_none=True)
    except PydanticSerializationError:  # a lone surrogate: UTF-8 cannot encode it
        return None


def encode(event: InboundMessage | DeliveryUpdate) -> bytes:
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


def decode(value: bytes) -> InboundMessage | DeliveryUpdate:
    """Parse a `router.inbound.v1` value; raises `pydantic.ValidationError` when malformed.

    A NUL written before `encode` replaced them (an older producer's record) is replaced here.
    """
    event = _cloud_event.validate_json(value).data
    return storable(event) if b"\\u0000" in value else event


def partition_key(event: InboundMessage | DeliveryUpdate) -> bytes:
    """One conversation's events share a key, and so a partition, and so an order."""
    return event.conversation_key.encode()
