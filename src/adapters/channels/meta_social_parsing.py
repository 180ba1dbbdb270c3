"""Messenger and Instagram webhook formats (`messaging`, `standby`, `changes`) as models.

Like the WhatsApp models, only the parts the router reads are modelled.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from adapters.channels.meta_parsing import (
    MessageId,
    MetaModel,
    Millis,
    PartyId,
    Referral,
    Seconds,
    Url,
)


class Party(MetaModel):
    id: PartyId


class MsCoordinates(MetaModel):
    lat: float
    long: float


class MsPayload(MetaModel):
    url: Url | None = None
    title: str | None = None
    coordinates: MsCoordinates | None = None
    reel_video_id: str | None = None
    sticker_id: int | str | None = None


class MsAttachment(MetaModel):
    type: str
    title: str | None = None
    url: Url | None = None
    payload: MsPayload | None = None


class MsQuickReply(MetaModel):
    payload: str | None = None


class MsStory(MetaModel):
    id: str | None = None
    url: Url | None = None


class MsReplyTo(MetaModel):
    mid: MessageId | None = None
    story: MsStory | None = None


class MsMessage(MetaModel):
    mid: MessageId
    text: str | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False
    attachments: list[MsAttachment] = []
    quick_reply: MsQuickReply | None = None
    reply_to: MsReplyTo | None = None
    referral: Referral | None = None


class MsPostback(MetaModel):
    mid: MessageId | None = None
    title: str | None = None
    payload: str | None = None
    referral: Referral | None = None


class MsReaction(MetaModel):
    mid: MessageId
    action: str | None = None
    reaction: str | None = None
    emoji: str | None = None


class MsDelivery(MetaModel):
    mids: list[MessageId] = []
    # Every message we sent before this instant (Unix ms) was delivered.
    watermark: Millis | None = None


class MsRead(MetaModel):
    mid: MessageId | None = None
    # Messenger: every message we sent before this instant (Unix ms) was read.
    watermark: Millis | None = None


class MsEvent(MetaModel):
    sender: Party
    recipient: Party
    timestamp: Millis | None = None
    message: MsMessage | None = None
    postback: MsPostback | None = None
    reaction: MsReaction | None = None
    referral: Referral | None = None
    delivery: MsDelivery | None = None
    read: MsRead | None = None


class MsEntry(MetaModel):
    id: PartyId | None = None
    messaging: list[Any] = []
    # Events of threads another app controls (the handover protocol).
    standby: list[Any] = []
    changes: list[Any] = []


class Author(MetaModel):
    id: PartyId
    username: str | None = None
    name: str | None = None


class IgMedia(MetaModel):
    id: PartyId
    media_product_type: str | None = None


class IgComment(MetaModel):
    """An Instagram `comments` (or `live_comments`) change value."""

    id: MessageId
    text: str | None = None
    parent_id: PartyId | None = None
    sender: Annotated[Author, Field(alias="from")]
    media: IgMedia


class IgMention(MetaModel):
    """An Instagram `mentions` change value: Meta names the media, not who mentioned."""

    media_id: PartyId
    comment_id: PartyId | None = None


class FeedPost(MetaModel):
    id: PartyId | None = None
    permalink_url: Url | None = None


class FeedChange(MetaModel):
    """A Facebook Page `feed` change value."""

    item: str
    verb: str | None = None
    comment_id: MessageId | None = None
    post_id: PartyId | None = None
    parent_id: PartyId | None = None
    message: str | None = None
    created_time: Seconds | None = None
    sender: Annotated[Author | None, Field(alias="from")] = None
    post: FeedPost | None = None


class MsChange(MetaModel):
    field: str = ""
    value: Any = None


class MsNotification(MetaModel):
    object: Literal["page", "instagram"]
    entry: list[Any]
