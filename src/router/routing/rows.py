"""The routing engine's reads and writes of a batch, one statement per table.

Each statement is prepared once per connection and fed with arrays (`unnest`), so a batch
of any size costs the same handful of round trips, and no row goes through the ORM's
unit of work. Everything runs on the asyncpg connection of the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from router.inbound.envelope import PUBLIC_KINDS, InboundMessage
from router.jsontext import compact_json
from router.routing.records import ConversationRecord, Routable

Identity = tuple[str, str]

_STORED = """
SELECT m.provider, m.provider_message_id
FROM messages AS m
JOIN unnest($1::text[], $2::text[]) AS u(provider, id)
  ON m.provider = u.provider AND m.provider_message_id = u.id
"""

_LOCK_CUSTOMERS = """
SELECT id, attributes::text FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""

# The columns after id, customer and channel follow `_conversation_state`.
_INSERT_CONVERSATIONS = """
INSERT INTO conversations (id, customer_id, channel, status, queue_id, agent_id, offer_state,
                           offered_at, offer_expires_at, excluded_agents, last_agent_id,
                           priority, waiting_since, last_message_at, resolved_at,
                           awaiting_reply_since, subject, created_at)
SELECT id, customer, channel, status, queue, agent, offer_state, offered_at, expires,
       excluded::jsonb, last_agent, priority, waiting_since, last_message_at, resolved_at,
       awaiting, subject, created_at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::text[],
            $8::timestamptz[], $9::timestamptz[], $10::text[], $11::uuid[], $12::int[],
            $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[],
            $17::text[], $18::timestamptz[])
    AS u(id, customer, channel, status, queue, agent, offer_state, offered_at, expires,
         excluded, last_agent, priority, waiting_since, last_message_at, resolved_at, awaiting,
         subject, created_at)
"""

_UPDATE_CONVERSATIONS = """
UPDATE conversations AS c
SET status = u.status, queue_id = u.queue, agent_id = u.agent, offer_state = u.offer_state,
    offered_at = u.offered_at, offer_expires_at = u.expires, excluded_agents = u.excluded::jsonb,
    last_agent_id = u.last_agent, priority = u.priority, waiting_since = u.waiting_since,
    last_message_at = u.last_message_at, resolved_at = u.resolved_at,
    awaiting_reply_since = u.awaiting, updated_at = now()
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[],
            $7::timestamptz[], $8::text[], $9::uuid[], $10::int[], $11::timestamptz[],
            $12::timestamptz[], $13::timestamptz[], $14::timestamptz[])
    AS u(id, status, queue, agent, offer_state, offered_at, expires, excluded, last_agent,
         priority, waiting_since, last_message_at, resolved_at, awaiting)
WHERE c.id = u.id
"""

# A thread that moved to another conversation (its old one was resolved long ago) follows it.
_UPSERT_THREADS = """
INSERT INTO conversation_threads (thread_key, conversation_id)
SELECT * FROM unnest($1::text[], $2::uuid[])
ON CONFLICT (thread_key) DO UPDATE SET conversation_id = excluded.conversation_id
"""

_INSERT_MESSAGES = """
INSERT INTO messages (id, conversation_id, event_id, direction, kind, channel, provider,
                      provider_message_id, sender, recipient, subject, text, stripped_text,
                      attachments, details, provider_timestamp, received_at)
SELECT gen_random_uuid(), conversation, event, direction, kind, channel, provider, provider_id,
       sender, recipient, subject, body, stripped, attachments::jsonb, details::jsonb,
       provided_at, received_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
            $14::text[], $15::timestamptz[], $16::timestamptz[])
    AS u(conversation, event, direction, kind, channel, provider, provider_id, sender,
         recipient, subject, body, stripped, attachments, details, provided_at, received_at)
"""


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to one list per column, for `unnest`."""
    return [[row[index] for row in rows] for index in range(width)]


async def stored_messages(connection: Any, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (provider, provider message id) pairs are already stored."""
    providers, ids = _columns(list(keys), 2)
    rows = await connection.fetch(_STORED, providers, ids)
    return {(row[0], row[1]) for row in rows}


# Most customers have no attributes (every one the router creates starts so).
NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


async def lock_customers(
    connection: Any, ids: list[uuid.UUID]
) -> dict[uuid.UUID, Mapping[str, Any]]:
    """Lock the customers in id order; their attributes, for the routing policy."""
    if not ids:
        return {}
    rows = await connection.fetch(_LOCK_CUSTOMERS, ids)
    return {
        customer: NO_ATTRIBUTES if document == "{}" else json.loads(document)
        for customer, document in rows
    }


def _conversation_state(conversation: Routable) -> list[Any]:
    return [
        conversation.status,
        conversation.queue_id,
        conversation.agent_id,
        conversation.offer_state,
        conversation.offered_at,
        conversation.offer_expires_at,
        compact_json(conversation.excluded_agents or {}),
        conversation.last_agent_id,
        conversation.priority or 0,
        conversation.waiting_since,
        conversation.last_message_at,
        conversation.resolved_at,
        conversation.awaiting_reply_since,
    ]


async def insert_conversations(
    connection: Any, conversations: Sequence[ConversationRecord]
) -> None:
    rows = [
        [
            conversation.id,
            conversation.customer_id,
            conversation.channel,
            *_conversation_state(conversation),
            conversation.subject,
            conversation.created_at,
        ]
        for conversation in conversations
    ]
    await connection.execute(_INSERT_CONVERSATIONS, *_columns(rows, 18))


async def update_conversations(connection: Any, conversations: Sequence[Routable]) -> None:
    rows = [[conversation.id, *_conversation_state(conversation)] for conversation in conversations]
    await connection.execute(_UPDATE_CONVERSATIONS, *_columns(rows, 14))


_CONVERSATION = """
    c.id, c.customer_id, c.channel, c.status, c.waiting_since, c.last_message_at, c.created_at,
    c.queue_id, c.agent_id, c.offer_state, c.offered_at, c.offer_expires_at,
    c.excluded_agents::text, c.last_agent_id, c.priority, c.subject, c.resolved_at,
    c.awaiting_reply_since
"""
_LOCK_BY_THREAD = f"""
SELECT t.thread_key, {_CONVERSATION}
FROM conversation_threads AS t JOIN conversations AS c ON c.id = t.conversation_id
WHERE t.thread_key = ANY($1::text[])
ORDER BY c.id
FOR UPDATE OF c
"""
# A conversation under a public post (a comment, a mention) is never where a private
# message continues, so it is not among the ones continuity can join. Such a conversation
# is the one its first message (a comment or mention) opened, and no private message ever
# joins it, so its first message says what it is: one probe of the (conversation_id,
# created_at, id) index per open conversation, not a scan of its whole history. The thread
# key's shape would not do: a comment thread moves to a new conversation when its old one
# was resolved too long ago, and a supervisor may reopen the old one.
_LOCK_OPEN = f"""
SELECT NULL, {_CONVERSATION}
FROM conversations AS c
WHERE c.customer_id = ANY($1::uuid[]) AND c.status = 'open'
  AND NOT coalesce((
    SELECT m.kind = ANY($2::text[]) FROM messages AS m
    WHERE m.conversation_id = c.id
    ORDER BY m.created_at, m.id
    LIMIT 1
  ), false)
ORDER BY c.id
FOR UPDATE OF c
"""

Known = dict[uuid.UUID, ConversationRecord]


async def lock_by_thread(
    connection: Any, keys: Collection[str], known: Known
) -> dict[str, ConversationRecord]:
    """The conversation of each thread key that has one, locked (in id order)."""
    found = await connection.fetch(_LOCK_BY_THREAD, list(keys))
    return {row[0]: _record(row, known) for row in found}


async def lock_open(
    connection: Any, customer_ids: Collection[uuid.UUID], known: Known
) -> list[ConversationRecord]:
    """The customers' open private conversations, locked (in id order)."""
    if not customer_ids:
        return []
    found = await connection.fetch(_LOCK_OPEN, list(customer_ids), list(PUBLIC_KINDS))
    return [_record(row, known) for row in found]


def _record(row: Sequence[Any], known: Known) -> ConversationRecord:
    """The row as a record; a conversation read twice in a batch is one record."""
    found = known.get(row[1])
    if found is None:
        excluded = row[13]
        found = known[row[1]] = ConversationRecord(
            id=row[1],
            customer_id=row[2],
            channel=row[3],
            status=row[4],
            waiting_since=row[5],
            last_message_at=row[6],
            created_at=row[7],
            queue_id=row[8],
            agent_id=row[9],
            offer_state=row[10],
            offered_at=row[11],
            offer_expires_at=row[12],
            excluded_agents={} if excluded == "{}" else json.loads(excluded),
            last_agent_id=row[14],
            priority=row[15],
            subject=row[16],
            resolved_at=row[17],
            awaiting_reply_since=row[18],
        )
    return found


async def upsert_threads(connection: Any, threads: dict[str, uuid.UUID]) -> None:
    await connection.execute(_UPSERT_THREADS, list(threads), list(threads.values()))


def message_row(message: InboundMessage, conversation_id: uuid.UUID) -> list[Any]:
    """The message's row for `insert_messages`, in `_INSERT_MESSAGES`'s column order."""
    # Each file gets its id here: the console downloads it by this id, the fetcher fills it in.
    attachments = [
        {"id": str(uuid.uuid4()), **attachment.model_dump(mode="json")}
        for attachment in message.attachments
    ]
    return [
        conversation_id,
        message.event_id,
        message.direction.value,
        message.kind.value,
        message.channel.value,
        message.provider,
        message.provider_message_id,
        message.customer.value,
        message.recipient,
        message.subject,
        message.text,
        message.stripped_text,
        compact_json(attachments),
        compact_json(
            {
                "references": list(message.references),
                **message.metadata,
                **_sender(message),
                **({"automated": message.automated.value} if message.automated else {}),
            }
        ),
        message.provider_timestamp,
        message.received_at,
    ]


def _sender(message: InboundMessage) -> dict[str, Any]:
    # A phone number as the provider signed it, and whether `sender` is its E.164 form.
    customer = message.customer
    if customer.provider_value is None:
        return {}
    return {"sender_as_signed": customer.provider_value, "sender_normalised": customer.normalised}


async def insert_messages(connection: Any, rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows made by `message_row`."""
    await connection.execute(_INSERT_MESSAGES, *_columns(rows, 16))
