"""Messenger and Instagram notifications: private messages, comments and mentions.

`messaging[]` and `standby[]` (a thread another app controls, the handover protocol) carry
the same events; standby ones are marked `metadata["standby"] = "true"`:

- `message` -> `InboundMessage` on `<channel>:<page or account>|<customer>`: text ->
  TEXT; image/video/audio/file/share/reels -> MEDIA (attachments by URL); location ->
  LOCATION; `story_mention` and replies to a story (`reply_to.story`) -> STORY with the
  story's URL and id; fallback/template -> TEXT with their title and link;
  `is_unsupported` -> SYSTEM. An ad's or link's `referral` becomes `referral_*` metadata.
- `postback` -> TEXT with the button's title; `reaction` -> REACTION (the reacted message
  in `references`); a `referral` alone -> SYSTEM; `delivery.mids[]` -> DELIVERED per mid,
  `delivery.watermark` -> DELIVERED for every message we sent on the thread up to then;
  `read.mid` (Instagram) -> READ, `read.watermark` (Messenger) -> READ up to then.
- Left out on purpose, counted: echoes of our own messages, unsends, a read receipt
  naming neither a message nor a watermark, and events of other kinds (opt-ins, ...).

`changes[]`: Instagram `comments`/`live_comments` and `mentions`, Facebook Page `feed`
comments become COMMENT and MENTION messages in conversations of their own, one per comment
thread: `instagram:<account>|comment:<media id>|<top comment id>`,
`messenger:<page>|comment:<post id>|<top comment id>`,
`instagram:<account>|mention:<media id>|<comment or media id>`. Their metadata names
`post_id`, `comment_id`, `parent_id` and `permalink_url` where Meta gives them, so a reply
can go back under the comment. Meta names no author of a mention: the mentioning media
(`media:<id>`) stands for the customer.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from adapters.channels.meta_content import Content, place, reaction, referral_metadata
from adapters.channels.meta_parsing import (
    events_of_each,
    from_millis,
    from_seconds,
    readable_entries,
    skip,
    validate,
)
from adapters.channels.meta_social_parsing import (
    FeedChange,
    IgComment,
    IgMention,
    MsChange,
    MsDelivery,
    MsEntry,
    MsEvent,
    MsMessage,
    MsNotification,
)
from router.channels import Channel, IdentityKind
from router.errors import InvalidPayload
from router.inbound.envelope import (
    Attachment,
    AttachmentStatus,
    CustomerIdentity,
    DeliveryStatus,
    DeliveryUpdate,
    InboundMessage,
    MessageKind,
)
from router.inbound.ports import Event

PROVIDER = "meta"
_SOCIAL = {
    "page": (Channel.MESSENGER, IdentityKind.MESSENGER),
    "instagram": (Channel.INSTAGRAM, IdentityKind.INSTAGRAM),
}
_SOCIAL_IDENTITY = dict(_SOCIAL.values())
# Messenger names the kind of an attachment, not its MIME type.
_CONTENT_TYPES = {"image": "image/*", "audio": "audio/*", "video": "video/*"}
_MEDIA = {"image", "audio", "video", "file", "share", "ig_reel", "reel", "animated_image"}


def social_events(document: Any) -> list[Event]:
    """Messenger or Instagram events (same shapes), one router event each."""
    notification = validate(MsNotification, document, "")
    channel, identity = _SOCIAL[notification.object]
    events: list[Event] = []
    for path, entry in readable_entries(notification.entry, MsEntry):
        for name, standby in (("messaging", False), ("standby", True)):
            read = partial(_messaging, channel=channel, identity=identity, standby=standby)
            events.extend(events_of_each(getattr(entry, name), f"{path}.{name}", read))
        read_change = partial(_change, channel=channel, business=entry.id)
        events.extend(events_of_each(entry.changes, f"{path}.changes", read_change))
    return events


def _messaging(
    found: Any, path: str, *, channel: Channel, identity: IdentityKind, standby: bool
) -> list[Event]:
    event = validate(MsEvent, found, path)
    # Inbound events come from the customer to our page or account.
    key = f"{channel.value}:{event.recipient.id}|{event.sender.id}"
    at = from_millis(event.timestamp)
    events: list[Event] = []
    found = _customer_message(event, path)
    if found is not None:
        message_id, content = found
        if standby:
            content.metadata["standby"] = "true"
        events.append(
            InboundMessage(
                channel=channel,
                provider=PROVIDER,
                provider_message_id=message_id,
                conversation_key=key,
                customer=CustomerIdentity(kind=identity, value=event.sender.id),
                recipient=event.recipient.id,
                kind=content.kind,
                text=content.text,
                stripped_text=content.text,
                attachments=content.attachments,
                references=content.references,
                provider_timestamp=at,
                metadata=content.metadata,
            )
        )
    delivery = event.delivery or MsDelivery()
    updates: list[tuple[str | None, datetime | None, DeliveryStatus]] = [
        (mid, None, DeliveryStatus.DELIVERED) for mid in delivery.mids
    ]
    if delivery.watermark is not None:
        updates.append((None, from_millis(delivery.watermark), DeliveryStatus.DELIVERED))
    if event.read is not None:
        if event.read.mid:
            updates.append((event.read.mid, None, DeliveryStatus.READ))
        elif event.read.watermark is not None:
            updates.append((None, from_millis(event.read.watermark), DeliveryStatus.READ))
        else:
            skip("read_watermark", path)
    events.extend(
        DeliveryUpdate(
            channel=channel,
            provider=PROVIDER,
            provider_message_id=mid,
            watermark=watermark,
            conversation_key=key,
            status=state,
            provider_timestamp=at,
        )
        for mid, watermark, state in updates
    )
    parts = (event.message, event.postback, event.reaction, event.referral, event.delivery)
    if event.read is None and all(part is None for part in parts):
        # Opt-ins, handovers, account linking...: nothing a customer said.
        skip("other_event", path)
    return events


def _customer_message(event: MsEvent, path: str) -> tuple[str, Content] | None:
    """The provider id and content of what the customer did, if it is a message."""
    message, postback = event.message, event.postback
    if message is not None:
        if message.is_echo:
            skip("echo", path)
            return None
        if message.is_deleted:
            skip("deleted", path)
            return None
        return message.mid, _message_content(message)
    if postback is not None:
        content = Content(MessageKind.TEXT, postback.title or postback.payload or "(tapped)")
        content.metadata["message_type"] = "postback"
        if postback.payload:
            content.metadata["postback_payload"] = postback.payload
        if postback.referral is not None:
            content.metadata.update(referral_metadata(postback.referral))
        if postback.mid:
            return postback.mid, content
        # Older postbacks carry no mid; sender and time identify a redelivery just as well.
        return _derived_id("postback", event, path), content
    if event.reaction is not None:
        found = event.reaction
        emoji = None if found.action == "unreact" else (found.emoji or found.reaction)
        content = reaction(emoji, found.mid)
        content.metadata["message_type"] = "reaction"
        if found.reaction:
            content.metadata["reaction"] = found.reaction
        return _derived_id(f"reaction:{found.mid}", event, path), content
    if event.referral is not None:
        metadata = {"message_type": "referral", **referral_metadata(event.referral)}
        source = event.referral.source or event.referral.type or "a link"
        text = f"Came to the conversation from {source.lower().replace('_', ' ')}"
        if event.referral.ref:
            text += f" (ref {event.referral.ref})"
        return _derived_id("referral", event, path), Content(MessageKind.SYSTEM, text, metadata)
    return None


def _derived_id(prefix: str, event: MsEvent, path: str) -> str:
    if event.timestamp is None:
        field = f"{path}.timestamp"
        raise InvalidPayload(f"{field}: missing (the event has no mid)", field=field)
    return f"{prefix}:{event.sender.id}:{event.timestamp}"


def _message_content(message: MsMessage) -> Content:
    kind, lines = MessageKind.TEXT, []
    metadata: dict[str, str] = {}
    attachments: list[Attachment] = []
    for item in message.attachments:
        payload = item.payload
        url = (payload.url if payload else None) or item.url
        title = (payload.title if payload else None) or item.title
        if item.type == "location" and payload is not None and payload.coordinates is not None:
            found = place(payload.coordinates.lat, payload.coordinates.long, title)
            kind, metadata = MessageKind.LOCATION, {**metadata, **found.metadata}
            lines.append(found.text)
        elif item.type == "story_mention":
            kind = MessageKind.STORY
            metadata["story_mention"] = "true"
            if url:
                metadata["story_url"] = url
            lines.append(f"Mentioned the business in their story{f': {url}' if url else ''}")
        elif item.type in _MEDIA:
            if kind is MessageKind.TEXT:
                kind = MessageKind.MEDIA
            if url:
                content_type = _CONTENT_TYPES.get(item.type, "application/octet-stream")
                attachments.append(
                    Attachment(content_type=content_type, url=url, status=AttachmentStatus.PENDING)
                )
            if payload is not None and payload.reel_video_id:
                metadata["reel_video_id"] = payload.reel_video_id
            lines.append(f"({title or item.type})")
        else:
            # fallback (a link), template, and types Meta adds: keep what they show.
            lines.append(" ".join(part for part in (title, url) if part) or f"({item.type})")
    story = message.reply_to.story if message.reply_to else None
    if story is not None:
        kind = MessageKind.STORY
        metadata.update(
            {f"story_{k}": v for k, v in (("id", story.id), ("url", story.url)) if v},
            reply_to_story="true",
        )
    if message.is_unsupported:
        kind, lines = MessageKind.SYSTEM, ["Sent a message Meta does not show to businesses"]
        metadata["message_type"] = "unsupported"
    elif message.attachments:
        metadata["message_type"] = ",".join(item.type for item in message.attachments)
    else:
        metadata["message_type"] = "story_reply" if story is not None else "text"
    if message.quick_reply and message.quick_reply.payload:
        metadata["quick_reply_payload"] = message.quick_reply.payload
    if message.referral is not None:
        metadata.update(referral_metadata(message.referral))
    text = message.text or "\n".join(lines) or "(empty message)"
    references = (message.reply_to.mid,) if message.reply_to and message.reply_to.mid else ()
    return Content(kind, text, metadata, tuple(attachments), references)


def _change(found: Any, path: str, *, channel: Channel, business: str | None) -> list[Event]:
    change = validate(MsChange, found, path)
    where = f"{path}.value"
    known = {
        (Channel.INSTAGRAM, "comments"),
        (Channel.INSTAGRAM, "live_comments"),
        (Channel.INSTAGRAM, "mentions"),
        (Channel.MESSENGER, "feed"),
    }
    if (channel, change.field) not in known:
        skip("other_field", path, change.field)
        return []
    if business is None:
        raise InvalidPayload(f"{path}: the entry has no id", field=path)
    if change.field == "mentions":
        return [_mention(validate(IgMention, change.value, where), business)]
    if change.field == "feed":
        found = _feed_comment(validate(FeedChange, change.value, where), business, where)
        return [] if found is None else [found]
    comment = validate(IgComment, change.value, where)
    if comment.sender.id == business:
        skip("echo", path)
        return []
    metadata = _public_metadata(
        change.field.removesuffix("s"), comment.media.id, comment.id, comment.parent_id
    )
    if comment.media.media_product_type:
        metadata["media_product_type"] = comment.media.media_product_type
    author = (comment.sender.id, comment.sender.username)
    return [_comment(Channel.INSTAGRAM, business, comment.media.id, author, comment.text, metadata)]


def _mention(mention: IgMention, business: str) -> InboundMessage:
    where = f"a comment on media {mention.media_id}" if mention.comment_id else "a post's caption"
    return _public_message(
        MessageKind.MENTION,
        Channel.INSTAGRAM,
        f"instagram:{business}|mention:{mention.media_id}|{mention.comment_id or mention.media_id}",
        f"mention:{mention.media_id}:{mention.comment_id or ''}",
        CustomerIdentity(kind=IdentityKind.INSTAGRAM, value=f"media:{mention.media_id}"),
        business,
        f"Mentioned the account in {where}",
        _public_metadata("mention", mention.media_id, mention.comment_id, None),
    )


def _feed_comment(change: FeedChange, page: str, path: str) -> InboundMessage | None:
    if change.item != "comment":
        skip("feed_item", path, change.item)
        return None
    if change.verb in ("remove", "hide", "unhide"):
        skip("comment_removed", path, change.verb)
        return None
    if change.sender is None or change.comment_id is None or change.post_id is None:
        missing = "from" if change.sender is None else "comment_id or post_id"
        raise InvalidPayload(f"{path}.{missing}: missing", field=f"{path}.{missing}")
    if change.sender.id == page:
        skip("echo", path)
        return None
    # A top-level comment's parent is the post itself.
    parent = change.parent_id if change.parent_id != change.post_id else None
    metadata = _public_metadata("feed_comment", change.post_id, change.comment_id, parent)
    if change.post is not None and change.post.permalink_url:
        metadata["permalink_url"] = change.post.permalink_url
    message_id = change.comment_id
    if change.verb == "edited":
        metadata["edited"] = "true"
        message_id = f"{change.comment_id}:edited:{change.created_time or ''}"
    author = (change.sender.id, change.sender.name)
    return _comment(
        Channel.MESSENGER,
        page,
        change.post_id,
        author,
        change.message,
        metadata,
        message_id,
        from_seconds(change.created_time),
    )


def _comment(
    channel: Channel,
    business: str,
    post: str,
    author: tuple[str, str | None],
    text: str | None,
    metadata: dict[str, str],
    message_id: str | None = None,
    at: datetime | None = None,
) -> InboundMessage:
    # One conversation per comment thread: a reply joins its top comment's conversation.
    comment = metadata["comment_id"]
    thread = metadata.get("parent_id") or comment
    author_id, author_name = author
    return _public_message(
        MessageKind.COMMENT,
        channel,
        f"{channel.value}:{business}|comment:{post}|{thread}",
        message_id or comment,
        CustomerIdentity(
            kind=_SOCIAL_IDENTITY[channel], value=author_id, display_name=_name(author_name)
        ),
        business,
        text or "(empty comment)",
        metadata,
        at,
    )


def _public_metadata(
    message_type: str, post: str, comment: str | None, parent: str | None
) -> dict[str, str]:
    found = {"message_type": message_type, "post_id": post, "comment_id": comment}
    found["parent_id"] = parent
    return {name: value for name, value in found.items() if value}


def _public_message(
    kind: MessageKind,
    channel: Channel,
    key: str,
    message_id: str,
    customer: CustomerIdentity,
    business: str,
    text: str,
    metadata: dict[str, str],
    at: datetime | None = None,
) -> InboundMessage:
    parent = metadata.get("parent_id")
    return InboundMessage(
        channel=channel,
        provider=PROVIDER,
        provider_message_id=message_id,
        conversation_key=key,
        customer=customer,
        recipient=business,
        kind=kind,
        text=text,
        stripped_text=text,
        references=(parent,) if parent else (),
        provider_timestamp=at,
        metadata=metadata,
    )


def _name(name: str | None) -> str | None:
    # A long profile name is no reason to refuse a customer's comment.
    return (name.strip()[:200] or None) if name else None
