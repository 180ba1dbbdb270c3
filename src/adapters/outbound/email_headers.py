"""The threading headers every email sender writes, whichever way it reaches the provider."""

from __future__ import annotations

from router.outbound.email_thread import bracketed, header_ids, outbound_message_id
from router.outbound.ports import OutboundReply


def email_message_id(reply: OutboundReply) -> str:
    """The reply's own Message-ID, canonical (no brackets)."""
    return reply.email_message_id or outbound_message_id(reply.message_id, reply.sender)


def threading_headers(reply: OutboundReply) -> dict[str, str]:
    """Message-ID, In-Reply-To, References and Auto-Submitted, as header values.

    The ids are canonical on the reply and bracketed here, at the edge; References lists
    the thread the reply answers, which already ends with the message it answers.
    """
    headers = {"Message-ID": bracketed(email_message_id(reply))}
    if reply.in_reply_to:
        headers["In-Reply-To"] = bracketed(reply.in_reply_to)
    references = list(reply.references)
    if reply.in_reply_to and reply.in_reply_to not in references:
        references.append(reply.in_reply_to)
    if references:
        headers["References"] = header_ids(references)
    if reply.auto_submitted:
        headers["Auto-Submitted"] = reply.auto_submitted
    return headers


def email_subject(reply: OutboundReply) -> str:
    """The stored subject (already `Re: ` once), or a neutral one for a reply without."""
    return reply.subject or "Re: your message"
