"""Replies to public comments and mentions: in public under the comment, or privately.

A conversation opened by a comment (or a mention) answers it where the platform allows:

* in public, under the comment. Instagram takes replies under top-level comments only, so a
  reply to a reply goes under its top comment; a mention is answered under the mentioning
  comment (a mention in a caption has none, and cannot be answered in public);
* privately, once per comment and within 7 days of it, as a message to its author
  (Messenger and Instagram "private replies"). Mentions have no author to write to.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel
from router.errors import Conflict, InvalidPayload
from router.inbound.envelope import PUBLIC_KINDS, DeliveryStatus, MessageKind
from router.models import Message

PRIVATE_REPLY_WINDOW = timedelta(days=7)


async def comment_reply(
    session: AsyncSession, inbound: Message | None, visibility: str | None, now: datetime
) -> dict[str, object]:
    """What a reply to a comment stores (`visibility`, `comment`); {} for other replies.

    Refused with 409 when the platform would refuse it (a second private reply, one after 7
    days, a mention with no comment to answer), with 422 when a reply that answers no
    comment names a visibility.
    """
    if inbound is None or inbound.kind not in PUBLIC_KINDS:
        if visibility is not None:
            raise InvalidPayload(
                "visibility: only replies to comments and mentions have one", field="visibility"
            )
        return {}
    chosen = visibility or "public"
    comment_id = inbound.details.get("comment_id")
    if inbound.kind == MessageKind.MENTION.value:
        if chosen == "private":
            raise Conflict("a mention has no author to write to privately; reply in public")
        if not comment_id:
            raise Conflict(
                "the mention is in a post's caption, not in a comment: there is no comment to"
                " reply under"
            )
        media = inbound.details.get("post_id")
        return {
            "visibility": chosen,
            "comment": {"comment_id": comment_id, "mention_media_id": media},
        }
    if not comment_id:
        raise Conflict("the comment's id is unknown: there is nothing to reply under")
    if chosen == "private":
        await _require_private_reply_allowed(session, inbound, str(comment_id), now)
    elif inbound.channel == Channel.INSTAGRAM.value:
        comment_id = inbound.details.get("parent_id") or comment_id
    return {"visibility": chosen, "comment": {"comment_id": comment_id}}


async def _require_private_reply_allowed(
    session: AsyncSession, inbound: Message, comment_id: str, now: datetime
) -> None:
    written = inbound.received_at
    if inbound.provider_timestamp is not None:
        written = min(written, inbound.provider_timestamp)
    if now - written > PRIVATE_REPLY_WINDOW:
        closed = (written + PRIVATE_REPLY_WINDOW).isoformat()
        raise Conflict(
            f"a private reply must go within 7 days of the comment; that closed at {closed}",
            private_reply_closed_at=closed,
        )
    if await _privately_answered(session, inbound.conversation_id, comment_id):
        raise Conflict("this comment already has its private reply; the platform allows one")


async def _privately_answered(session: AsyncSession, cid: uuid.UUID, comment_id: str) -> bool:
    answered = await session.scalar(
        select(
            exists().where(
                Message.conversation_id == cid,
                Message.direction == "outbound",
                Message.details["visibility"].astext == "private",
                Message.details["comment"]["comment_id"].astext == comment_id,
                Message.delivery_status != DeliveryStatus.FAILED.value,
            )
        )
    )
    return bool(answered)
