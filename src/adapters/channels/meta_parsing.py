"""Meta's webhook formats (WhatsApp Cloud API, Messenger, Instagram) as typed models.

Only the parts the router reads are modelled; everything else is ignored, so a field Meta
adds tomorrow changes nothing. A body that is no notification at all (not JSON, no
`object`, no `entry`) is a 422; an entry or event that is wrong where we read it is counted
and skipped on its own (`unreadable`), its log line naming the field by its path in the
payload (`entry[0].changes[0].value.messages[0].from: missing`), and the rest go through.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.channels.webhook import invalid_payload, json_document
from router.errors import InvalidPayload
from router.observability.metrics import count_ignored

# Party ids stay short enough that `instagram:<business>|<customer>` fits the 512-char key.
PartyId = Annotated[str, Field(min_length=1, max_length=200)]
MessageId = Annotated[str, Field(min_length=1, max_length=255)]
Url = Annotated[str, Field(max_length=2048)]
# WhatsApp sends Unix seconds as strings, Messenger milliseconds as numbers; both are bounded
# so that turning them into datetimes cannot overflow.
Seconds = Annotated[int, Field(ge=0, le=10**11)]
Millis = Annotated[int, Field(ge=0, le=10**14)]


log = logging.getLogger("adapters.channels.meta")


class MetaModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WaError(MetaModel):
    code: int | None = None
    title: str | None = None


class WaMedia(MetaModel):
    id: MessageId | None = None
    mime_type: Annotated[str, Field(max_length=255)] | None = None
    url: Url | None = None
    filename: Annotated[str, Field(max_length=255)] | None = None
    caption: str | None = None


class WaLocation(MetaModel):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: Url | None = None


class WaReply(MetaModel):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class WaFlowReply(MetaModel):
    name: str | None = None
    body: str | None = None
    response_json: str | None = None


class WaInteractive(MetaModel):
    type: str
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None
    nfm_reply: WaFlowReply | None = None


class WaButton(MetaModel):
    text: str | None = None
    payload: str | None = None


class WaText(MetaModel):
    body: str


class WaContext(MetaModel):
    id: MessageId | None = None


class WaCardName(MetaModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class WaCardPhone(MetaModel):
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


class WaCardEmail(MetaModel):
    email: str | None = None
    type: str | None = None


class WaCardOrg(MetaModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class WaCardUrl(MetaModel):
    url: str | None = None
    type: str | None = None


class WaCardAddress(MetaModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    type: str | None = None


class WaCard(MetaModel):
    """A shared contact card."""

    name: WaCardName | None = None
    phones: list[WaCardPhone] = []
    emails: list[WaCardEmail] = []
    org: WaCardOrg | None = None
    urls: list[WaCardUrl] = []
    addresses: list[WaCardAddress] = []
    birthday: str | None = None


class WaReaction(MetaModel):
    message_id: MessageId | None = None
    # Absent or empty when the customer took their reaction back.
    emoji: str | None = None


class WaOrderItem(MetaModel):
    product_retailer_id: str | None = None
    quantity: int | str | None = None
    item_price: float | str | None = None
    currency: str | None = None


class WaOrder(MetaModel):
    catalog_id: str | None = None
    text: str | None = None
    product_items: list[WaOrderItem] = []


class WaSystem(MetaModel):
    body: str | None = None
    type: str | None = None
    new_wa_id: str | None = None
    wa_id: str | None = None
    identity: str | None = None


class Referral(MetaModel):
    """Where the customer came from: an ad (click-to-message) or a link with a `ref`."""

    source_url: Url | None = None
    source_type: str | None = None
    source_id: str | None = None
    headline: str | None = None
    body: str | None = None
    ctwa_clid: str | None = None
    # Messenger and Instagram name the same things differently.
    ref: str | None = None
    source: str | None = None
    type: str | None = None
    ad_id: str | None = None


class WaMessage(MetaModel):
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
    contacts: list[WaCard] = []
    interactive: WaInteractive | None = None
    button: WaButton | None = None
    reaction: WaReaction | None = None
    order: WaOrder | None = None
    system: WaSystem | None = None
    referral: Referral | None = None
    context: WaContext | None = None
    errors: list[WaError] = []


class WaStatus(MetaModel):
    id: MessageId
    status: str
    timestamp: Seconds | None = None
    recipient_id: PartyId
    errors: list[WaError] = []


class WaProfile(MetaModel):
    name: str | None = None


class WaContact(MetaModel):
    wa_id: str | None = None
    profile: WaProfile | None = None


class WaMetadata(MetaModel):
    phone_number_id: PartyId


class WaValue(MetaModel):
    """A `messages` change; each message and status is validated on its own."""

    metadata: WaMetadata | None = None
    contacts: list[Any] = []
    messages: list[Any] = []
    statuses: list[Any] = []


class WaChange(MetaModel):
    field: str = ""
    # Validated as `WaValue` only for the `messages` field: other fields have other shapes.
    value: Any = None


class WaEntry(MetaModel):
    changes: list[Any] = []


class WaNotification(MetaModel):
    object: Literal["whatsapp_business_account"]
    entry: list[Any]


_Parsed = TypeVar("_Parsed", bound=BaseModel)


def parse_notification(body: bytes) -> WaNotification | Any | None:
    """The body as a WhatsApp notification, a Messenger/Instagram document, or None.

    Only what no event could be read without is checked here: JSON, an object, its
    `object`; every entry and every event in it is read on its own.
    """
    try:
        document = json_document(body)
    except ValueError as error:
        raise InvalidPayload(f"body: not JSON ({error})", field="body") from None
    if not isinstance(document, dict):
        raise InvalidPayload("body: not a JSON object", field="body")
    kind = document.get("object")
    if kind == "whatsapp_business_account":
        return validate(WaNotification, document, "")
    if kind in ("page", "instagram"):
        return document
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


def skip(reason: str, path: str, detail: str = "") -> None:
    """Leave one event out on purpose: counted by `reason`, with a debug line naming it."""
    count_ignored("meta", reason)
    log.debug("meta event ignored", extra={"reason": reason, "path": path, "detail": detail})


def unreadable(path: str, error: Exception) -> None:
    """An event whose shape we cannot read: counted and skipped, the batch goes on."""
    detail = str(error) if isinstance(error, InvalidPayload) else type(error).__name__
    skip("malformed", path, detail)
