"""What the domain needs from a channel's outbound sender (implemented in `adapters.outbound`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from router.channels import Channel


@dataclass(frozen=True, kw_only=True)
class OutboundFile:
    """A file sent with a reply: its bytes, and a link the provider may fetch it from.

    `url` is set where the router serves the file itself (a signed, expiring link under
    `ROUTER_PUBLIC_BASE_URL`), for providers that take media only by link.
    """

    filename: str
    content_type: str
    content: bytes
    url: str | None = None


@dataclass(frozen=True, kw_only=True)
class OutboundTemplate:
    """An approved WhatsApp message template: the only message allowed outside the window."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CommentReply:
    """A reply to a public comment or mention: under it for all to see, or privately.

    `comment_id` is the comment answered; a mention also names the media it is on.
    """

    visibility: str  # "public" or "private"
    comment_id: str
    mention_media_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class OutboundReply:
    """An agent's reply as a provider needs it: who gets it, from which of our addresses."""

    message_id: uuid.UUID
    channel: Channel
    to: str
    sender: str
    text: str
    subject: str | None = None
    # Email: our own Message-ID, the message answered and the thread before it, all canonical
    # (no brackets; see `router.outbound.email_thread`). Senders bracket them in the headers.
    email_message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    # `auto-replied` or `auto-generated` on a message the router sends by itself (RFC 3834);
    # None on an agent's reply, which a person wrote.
    auto_submitted: str | None = None
    files: tuple[OutboundFile, ...] = ()
    # Web chat: the widget's session the reply answers, and the site's widget backend URL
    # (resolved when the reply is sent, so a changed URL applies to queued replies).
    session_id: str | None = None
    reply_url: str | None = None
    # The replying agent's display name, for channels that show who answered.
    author_name: str | None = None
    # WhatsApp: sent as this template instead of free text (`text` is its readable form).
    template: OutboundTemplate | None = None
    # Messenger and Instagram: the reply answers this comment or mention.
    comment: CommentReply | None = None


@dataclass(frozen=True)
class Sent:
    """The provider took the message; its id lets delivery webhooks find the row."""

    provider_message_id: str


class DeliveryError(Exception):
    """The provider did not take the message; `retryable` says whether trying again may help.

    `retry_after` is how many seconds the provider asked us to wait (its `Retry-After`), if it
    said; `status_code` is the HTTP status it answered (None when it never answered).
    """

    def __init__(
        self,
        detail: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code


class OutboundSender(Protocol):
    """Sends replies on one provider's API."""

    provider: str

    async def send(self, reply: OutboundReply) -> Sent:
        """Hand the reply to the provider; raise `DeliveryError` when it is not taken."""
        ...


class SenderDirectory(Protocol):
    """Which sender answers a conversation: by its channel and the provider the customer used."""

    def sender_for(self, channel: Channel, inbound_provider: str) -> OutboundSender | None:
        """The configured sender, or None when replies on this channel cannot be sent."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
