"""The vocabulary every part of the router shares: channels, directions, presence."""

from enum import StrEnum


class Channel(StrEnum):
    """A way a customer reaches the company; agents have a capacity per channel."""

    EMAIL = "email"
    CHAT = "chat"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    SMS = "sms"
    VOICE = "voice"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class IdentityKind(StrEnum):
    """How a customer is recognised; (kind, value) is unique across customers."""

    EMAIL = "email"
    PHONE = "phone"  # E.164
    WHATSAPP = "whatsapp"  # WhatsApp user id (wa_id)
    MESSENGER = "messenger"  # page-scoped user id
    INSTAGRAM = "instagram"  # Instagram-scoped user id
    WEBCHAT = "webchat"  # visitor id issued by the chat widget
