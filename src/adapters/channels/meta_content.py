"""What a Meta message says, as readable text, a message kind and structured metadata.

Every kind of content a customer can send becomes text a person can read in the history
(never an empty message) and, where it has structure (contact cards, places, orders,
ads), metadata a program can read. Pure functions over the parsed models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from adapters.channels.meta_parsing import (
    Referral,
    WaCard,
    WaMedia,
    WaMessage,
    WaOrder,
)
from router.errors import InvalidPayload
from router.inbound.envelope import Attachment, AttachmentStatus, MessageKind

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
# Metadata values are strings on the envelope; structured ones are JSON, bounded.
_LONGEST_VALUE = 8000

_SYSTEM_TEXT = {
    "request_welcome": "Opened the chat with the business for the first time",
    "ephemeral": "Sent a disappearing message, which WhatsApp does not show to businesses",
}


@dataclass
class Content:
    """One message's content as the envelope carries it."""

    kind: MessageKind
    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    references: tuple[str, ...] = ()


def as_json(value: object) -> str:
    """Structured metadata as compact JSON, cut to a bounded size."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))[:_LONGEST_VALUE]


def maps_link(latitude: float, longitude: float) -> str:
    """A link that opens the place on a map."""
    return f"https://www.google.com/maps/search/?api=1&query={quote(f'{latitude},{longitude}')}"


def place(
    latitude: float, longitude: float, name: str | None = None, address: str | None = None
) -> Content:
    """A shared location: its name and address (or coordinates) and a map link."""
    link = maps_link(latitude, longitude)
    label = ", ".join(part for part in (name, address) if part) or f"{latitude}, {longitude}"
    metadata = {"latitude": str(latitude), "longitude": str(longitude), "maps_url": link}
    if name:
        metadata["place_name"] = name
    if address:
        metadata["address"] = address
    return Content(MessageKind.LOCATION, f"Location: {label} ({link})", metadata)


def whatsapp_content(message: WaMessage, path: str) -> Content:
    """The content of a WhatsApp message of any type Meta documents (or one it adds)."""
    kind = message.type
    if kind == "text":
        if message.text is None:
            raise InvalidPayload(f"{path}.text: missing", field=f"{path}.text")
        return Content(MessageKind.TEXT, message.text.body)
    if kind in MEDIA_TYPES:
        media: WaMedia | None = getattr(message, kind)
        if media is None:
            raise InvalidPayload(f"{path}.{kind}: missing", field=f"{path}.{kind}")
        return _media(kind, media)
    if kind == "location" and message.location is not None:
        found = message.location
        content = place(found.latitude, found.longitude, found.name, found.address)
        if found.url:
            content.metadata["url"] = found.url
        return content
    if kind == "contacts" and message.contacts:
        return contact_cards(message.contacts)
    if kind == "interactive" and message.interactive is not None:
        return _interactive(message)
    if kind == "button" and message.button is not None:
        metadata = {"button_payload": message.button.payload} if message.button.payload else {}
        return Content(MessageKind.TEXT, message.button.text or "(tapped a button)", metadata)
    if kind == "reaction" and message.reaction is not None:
        return reaction(message.reaction.emoji, message.reaction.message_id)
    if kind == "order" and message.order is not None:
        return order(message.order)
    if kind == "system" and message.system is not None:
        return _system(message)
    if kind in _SYSTEM_TEXT or kind == "unsupported":
        return _notice(message)
    # A type Meta added after this code: keep what it says it is, and let an agent look.
    return Content(MessageKind.TEXT, f"Sent a {kind} message the router cannot show yet")


def _media(kind: str, media: WaMedia) -> Content:
    metadata = {"media_id": media.id} if media.id else {}
    text = media.caption or f"({media.filename or kind})"
    attachment = Attachment(
        filename=media.filename,
        content_type=media.mime_type or "application/octet-stream",
        url=media.url,
        media_id=media.id,
        # Meta serves media only with the access token: fetched after the message is stored.
        status=AttachmentStatus.PENDING if media.id or media.url else None,
    )
    return Content(MessageKind.MEDIA, text, metadata, (attachment,))


def _interactive(message: WaMessage) -> Content:
    assert message.interactive is not None
    reply = message.interactive.button_reply or message.interactive.list_reply
    metadata: dict[str, str] = {"interactive_type": message.interactive.type}
    if reply is not None:
        if reply.id:
            metadata["reply_id"] = reply.id
        if reply.description:
            metadata["reply_description"] = reply.description
        return Content(MessageKind.TEXT, reply.title or reply.id or "(chose an option)", metadata)
    flow = message.interactive.nfm_reply
    if flow is not None:
        if flow.response_json:
            metadata["flow_response"] = flow.response_json[:_LONGEST_VALUE]
        if flow.name:
            metadata["flow_name"] = flow.name
        return Content(MessageKind.TEXT, flow.body or "(sent a form)", metadata)
    return Content(MessageKind.TEXT, f"(answered a {message.interactive.type})", metadata)


def reaction(emoji: str | None, reacted_to: str | None) -> Content:
    """A reaction (no emoji: the reaction taken back) to the message it names."""
    metadata = {"emoji": emoji} if emoji else {"action": "unreact"}
    if reacted_to:
        metadata["reacted_to"] = reacted_to
    text = f"Reacted {emoji} to a message" if emoji else "Took back a reaction to a message"
    references = (reacted_to,) if reacted_to else ()
    return Content(MessageKind.REACTION, text, metadata, references=references)


def contact_cards(cards: list[WaCard]) -> Content:
    """Shared contact cards: one readable line per card, and every card as JSON."""
    lines, structured = [], []
    for card in cards:
        name = card.name.formatted_name if card.name else None
        if not name and card.name:
            name = " ".join(part for part in (card.name.first_name, card.name.last_name) if part)
        phones = [phone.phone or phone.wa_id or "" for phone in card.phones]
        emails = [email.email or "" for email in card.emails]
        org = card.org
        company = ", ".join(part for part in (org.company, org.title) if part) if org else ""
        details = [value for value in (*phones, *emails, company) if value]
        lines.append(f"{name or 'Contact'}: {'; '.join(details)}" if details else name or "")
        structured.append(card.model_dump(exclude_none=True, exclude_defaults=True))
    text = "Shared contacts:\n" + "\n".join(line for line in lines if line)
    return Content(MessageKind.CONTACTS, text, {"contacts": as_json(structured)})


def order(found: WaOrder) -> Content:
    """An order placed from a catalogue: its items, one per line, and its note."""
    lines = [
        f"{item.quantity or 1} x {item.product_retailer_id or 'item'}"
        + (f" at {item.item_price} {item.currency or ''}".rstrip() if item.item_price else "")
        for item in found.product_items
    ]
    text = "Order:\n" + "\n".join(lines) + (f"\n{found.text}" if found.text else "")
    metadata = {
        "order_items": as_json([i.model_dump(exclude_none=True) for i in found.product_items])
    }
    if found.catalog_id:
        metadata["catalog_id"] = found.catalog_id
    return Content(MessageKind.ORDER, text, metadata)


def _system(message: WaMessage) -> Content:
    assert message.system is not None
    system = message.system
    metadata = {"system_type": system.type} if system.type else {}
    if system.new_wa_id:
        metadata["new_wa_id"] = system.new_wa_id
    text = system.body or f"WhatsApp notice: {system.type or 'system'}"
    return Content(MessageKind.SYSTEM, text, metadata)


def _notice(message: WaMessage) -> Content:
    errors = "; ".join(error.title for error in message.errors if error.title)
    text = _SYSTEM_TEXT.get(message.type) or (
        f"Sent a message WhatsApp does not support{f' ({errors})' if errors else ''}"
    )
    return Content(MessageKind.SYSTEM, text)


def referral_metadata(referral: Referral) -> dict[str, str]:
    """Where the customer came from (an ad or a link), as `referral_*` metadata."""
    fields = referral.model_dump(exclude_none=True)
    return {f"referral_{name}": str(value)[:2048] for name, value in fields.items()}
