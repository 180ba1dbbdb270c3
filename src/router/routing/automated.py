"""Messages no person wrote (auto-replies, bounces): kept in the history, never routed.

An automatic message is kept like every message that asks no agent for an answer (see
`router.routing.notices`): in its thread's conversation, or the customer's open one, or a
conversation of its own created resolved, offered to nobody. A bounce that names a message
we sent (its returned Message-ID is one the outbound path gave, `<message row id@domain>`)
marks that message's delivery failed and joins that message's conversation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from router.inbound.envelope import Automated, InboundMessage

# One statement for every bounce of a batch: the sent messages they name are marked failed,
# and each bounce's thread is led to the failed message's conversation (unless it has one).
_FAILED_DELIVERIES = """
WITH failed AS (
    UPDATE messages AS m
    SET delivery_status = 'failed', delivery_error = u.error, delivery_updated_at = u.at
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
        AS u(id, thread, error, at)
    WHERE m.id = u.id AND m.direction = 'outbound' AND m.channel = 'email'
    RETURNING m.conversation_id, u.thread
)
INSERT INTO conversation_threads (thread_key, conversation_id)
SELECT DISTINCT ON (thread) thread, conversation_id FROM failed
ON CONFLICT (thread_key) DO NOTHING
"""


def _sent_ids(message: InboundMessage) -> list[uuid.UUID]:
    """The row ids of our messages a bounce names: `<row id@domain>` ids it refers to."""
    found = []
    for reference in message.references:
        local = reference.split("@", 1)[0]
        try:
            found.append(uuid.UUID(local))
        except ValueError:
            continue
    return found


async def record_bounces(connection: Any, messages: Sequence[InboundMessage]) -> None:
    """Mark the sent messages the batch's bounces name as failed, in one statement."""
    rows = [
        (
            sent,
            message.conversation_key,
            (message.metadata.get("delivery_error") or "bounced")[:1000],
            message.provider_timestamp or message.received_at,
        )
        for message in messages
        if message.automated is Automated.BOUNCE
        for sent in _sent_ids(message)
    ]
    if rows:
        await connection.execute(_FAILED_DELIVERIES, *([row[i] for row in rows] for i in range(4)))
