"""Where a message that asks no agent for an answer is kept when it has nowhere to go.

A reaction or a provider's notice (`request_welcome`, a number change) joins its thread's
conversation, or the customer's open one, without reopening or routing it. When there is
none, it is kept in a conversation of its own, resolved at once and offered to no one; a
later message in its thread reopens it (within the reopen window) with the notice in its
history.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from router.conversations.history import Actor, Change, Journal
from router.inbound.envelope import InboundMessage
from router.models import ConversationStatus
from router.routing.records import ConversationRecord


def kept_without_routing(
    message: InboundMessage, customer_id: uuid.UUID, journal: Journal, now: datetime
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
    journal.record(
        conversation.id,
        Change.CREATED,
        f"{message.kind} event on {message.channel} via {message.provider}",
        actor=Actor.CUSTOMER,
        details={
            "thread": message.conversation_key,
            "channel": message.channel,
            "event_id": message.event_id,
        },
    )
    journal.record(
        conversation.id,
        Change.RESOLVED,
        f"a {message.kind} event asks no agent for an answer",
        actor=Actor.SYSTEM,
        details={"event_id": message.event_id},
    )
    return conversation
