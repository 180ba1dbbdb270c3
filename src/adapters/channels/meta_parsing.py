"""Meta's webhook formats (WhatsApp Cloud API, Messenger, Instagram) as typed models.

Only the parts the router reads are modelled; everything else is ignored, so a field Meta
adds tomorrow changes nothing. A shape that is wrong where we read it is a 422 naming the
field by its path in the payload (`entry[0].changes[0].value.messages[0].from: missing`).
Changes, messages, statuses and messaging events are validated one by one (`Refusals`):
one malformed entry never drops the others Meta batched with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from adapters.channels.webhook import envelope_errors, invalid_payload
from router.errors import InvalidPayload

log = logging.getLogger(__name__)

# Party ids stay short enough that `instagram:<business>|<customer>` fits the 512-char key.
PartyId = Annotated[str, Field(min_length=1, max_length=200)]
MessageId = Annotated[str, Field(min_length=1, max_length=255)]
Url = Annotated[str, Field(max_length=2048)]
# WhatsApp sends Unix seconds as strings, Messenger milliseconds as numbers; both are bounded
# so that turning them into datetimes cannot overflow.
Seconds = Annotated[int, Field(ge=0, le=10**11)]
Millis = Annotated[int, Field(ge=0, le=10**14)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WaError(_Model):
    code: int | None = None
    title: str | None = None


class WaMedia(_Model):
    id: MessageId | None = None
    mime_type: Annotated[str, Field(max_length=255)] | None = None
    url: Url | None = None
    filename: Annotated[str, Field(max_length=255)] | None = None
    caption: str | None = None


class WaLocation(_Model):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class WaReply(_Model):
    id: str | None = None
    title: str | None = None


class WaInteractive(_Model):
    type: str
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaButton(_Model):
    text: str | None = None
    payload: str | None = None


class WaText(_Model):
    body: str


class WaContext(_Model):
    id: MessageId | None = None


class WaMessage(_Model):
    # Absent only in a malformed message; the value's single contact may still name them.
    sender: Annotated[PartyId | None, Field(alias="from")] = None
    id: MessageId
    timestamp: Seconds | None = None
    type: Annotated[str, Field(min_length=1, max_length=64)]
    text: WaText | None = None
    image: WaMedia | None = None
    audio: WaMedia | None = None
    video: WaMedia | None = None
    document: WaMedia | None = None
    sticker: WaMedia | None = None
    location: WaLocation | None = None
    interactive: WaInteractive | None = None
    button: WaButton | None = None
    context: WaContext | None = None
    errors: list[WaError] = []


class WaStatus(_Model):
    id: MessageId
    status: str
    timestamp: Seconds | None = None
    recipient_id: PartyId
    errors: list[WaError] = []


class WaProfile(_Model):
    name: str | None = None


class WaContact(_Model):
    wa_id: str | None = None
    profile: WaProfile | None = None


class WaMetadata(_Model):
    phone_number_id: PartyId


class WaValue(_Model):
    metadata: WaMetadata | None = None
    contacts: list[WaContact] = []
    # Validated one by one as `WaMessage` / `WaStatus`, so one bad entry spares the rest.
    messages: list[Any] = []
    statuses: list[Any] = []


class WaChange(_Model):
    field: str = ""
    # Validated as `WaValue` only for the `messages` field: other fields have other shapes.
    value: dict[str, Any]


class WaEntry(_Model):
    changes: list[Any] = []  # each validated as `WaChange`


class WaNotification(_Model):
    object: Literal["whatsapp_business_account"]
    entry: list[WaEntry]


class Party(_Model):
    id: PartyId


class MsPayload(_Model):
    url: Url | None = None
    title: str | None = None


class MsAttachment(_Model):
    type: str
    payload: MsPayload | None = None


class MsQuickReply(_Model):
    payload: str | None = None


class MsReplyTo(_Model):
    mid: MessageId | None = None


class MsMessage(_Model):
    mid: MessageId
    text: str | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False
    attachments: list[MsAttachment] = []
    quick_reply: MsQuickReply | None = None
    reply_to: MsReplyTo | None = None


class MsPostback(_Model):
    mid: MessageId | None = None
    title: str | None = None
    payload: str | None = None


class MsDelivery(_Model):
    mids: list[MessageId] = []


class MsRead(_Model):
    mid: MessageId | None = None


class MsEvent(_Model):
    sender: Party
    recipient: Party
    timestamp: Millis | None = None
    message: MsMessage | None = None
    postback: MsPostback | None = None
    delivery: MsDelivery | None = None
    read: MsRead | None = None


class MsEntry(_Model):
    messaging: list[Any] = []  # each validated as `MsEvent`


class MsNotification(_Model):
    object: Literal["page", "instagram"]
    entry: list[MsEntry]


_Parsed = TypeVar("_Parsed", bound=BaseModel)


def parse_notification(body: bytes) -> WaNotification | MsNotification | None:
    """The body as a WhatsApp or Messenger/Instagram notification; None for other objects."""
    try:
        document = from_json(body)
    except ValueError as error:
        raise InvalidPayload(f"body: not JSON ({error})", field="body") from None
    if not isinstance(document, dict):
        raise InvalidPayload("body: not a JSON object", field="body")
    kind = document.get("object")
    if kind == "whatsapp_business_account":
        return validate(WaNotification, document, "")
    if kind in ("page", "instagram"):
        return validate(MsNotification, document, "")
    if not isinstance(kind, str) or not kind:
        raise InvalidPayload("object: missing", field="object")
    # Other objects (user, permissions, ...) carry no customer messages.
    return None


def validate(model: type[_Parsed], data: Any, path: str) -> _Parsed:
    """`data` as `model`; a 422 naming the field under `path` otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_payload(error, path) from None


def from_seconds(value: int | None) -> datetime | None:
    """A Unix time in seconds (WhatsApp) as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def from_millis(value: int | None) -> datetime | None:
    """A Unix time in milliseconds (Messenger, Instagram) as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


class Refusals:
    """The entries of one notification refused on their own, while the others go through.

    Meta retries a refused notification whole: refusing it for one malformed entry would
    lose every good event batched with it, on every retry.
    """

    def __init__(self) -> None:
        self.errors: list[InvalidPayload] = []

    @contextmanager
    def entry(self) -> Iterator[None]:
        """Run the parsing of one entry; its refusal is noted instead of raised."""
        try:
            with envelope_errors():
                yield
        except InvalidPayload as error:
            self.errors.append(error)

    def settle(self, events: Sequence[object]) -> None:
        """Refuse (422) a notification nothing came through from; else log what was left out."""
        if not self.errors:
            return
        if not events:
            raise self.errors[0]
        # Paths and reasons only: no customer data in the log.
        log.warning(
            "meta notification entries refused",
            extra={"refused": [error.detail for error in self.errors]},
        )
