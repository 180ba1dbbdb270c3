"""Where a message that asks no agent for an answer is kept when it has nowhere to go.

A reaction, a provider's notice (`request_welcome`, a number change) or a message no person
wrote (an auto-reply, a bounce) joins its thread's conversation, or the customer's open one,
without reopening, routing or offering it. When there is none, it is kept in a conversation
of its own, created resolved and offered to no one; a later message in its thread reopens
it (within the reopen window) with the quiet message in its history.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from router.conversations.history import Actor, Change, Journal
from router.inbound.envelope import InboundMessage
from router.models import ConversationStatus
from router.routing.records import ConversationRecord


def quiet_conversation(
    journal: Journal, message: InboundMessage, customer_id: uuid.UUID, now: datetime
) -> ConversationRecord:
    """A new conversation, resolved at once, that keeps `message` in the history."""
    conversation = ConversationRecord(
        id=uuid.uuid4(),
        customer_id=customer_id,
        channel=message.channel.value,
        status=ConversationStatus.RESOLVED.value,
        subject=message.subject,
        waiting_since=now,
        last_message_at=now,
        created_at=now,
        resolved_at=now,
    )
    details: dict[str, object] = {
        "thread": message.conversation_key,
        "channel": message.channel,
        "event_id": message.event_id,
    }
    if message.automated is not None:
        # Nobody wrote it: the system, not the customer, opened this conversation.
        details["automated"] = message.automated.value
        what = f"an automatic message ({message.automated.value})"
        actor, reason = Actor.SYSTEM, "nothing to answer: no person wrote it; offered to nobody"
    else:
        what = f"a {message.kind} event"
        actor, reason = Actor.CUSTOMER, f"a {message.kind} event asks no agent for an answer"
    journal.record(
        conversation.id,
        Change.CREATED,
        f"{what} on {message.channel} via {message.provider}",
        actor=actor,
        details=details,
    )
    journal.record(conversation.id, Change.RESOLVED, reason, actor=Actor.SYSTEM, details=details)
    return conversation
