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


class JoinRule(StrEnum):
    """Whether a customer's message on a new thread joins their open conversation.

    A conversation has one channel: its replies go out there and its work is counted on that
    channel's capacity. So messaging joins only on its own channel; a message on another
    channel opens a conversation of its own, offered first to the same owner.
    """

    SAME_CHANNEL = "same-channel"  # their open conversation on this channel
    ANY_CHANNEL = "any-channel"  # their latest open conversation, whatever its channel
    NEVER = "never"  # a new thread is a new conversation


# A call has no replies here: its caller is answered in writing, in the conversation they
# already have open. A new email thread is a new matter, with its own subject.
DEFAULT_JOIN_RULES: dict[Channel, JoinRule] = {
    Channel.CHAT: JoinRule.SAME_CHANNEL,
    Channel.WHATSAPP: JoinRule.SAME_CHANNEL,
    Channel.MESSENGER: JoinRule.SAME_CHANNEL,
    Channel.INSTAGRAM: JoinRule.SAME_CHANNEL,
    Channel.SMS: JoinRule.SAME_CHANNEL,
    Channel.VOICE: JoinRule.ANY_CHANNEL,
    Channel.EMAIL: JoinRule.NEVER,
}
