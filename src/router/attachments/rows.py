"""The routing engine's write of a batch's attachments: one statement, from the messages' rows.

Each attachment on a message row carries the id `message_row` gave it; the statement copies
them into `attachments` (the download index and the fetcher's queue) by reading the rows the
batch just inserted, so the batch still costs one round trip for all its files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

_INSERT_INBOUND = """
INSERT INTO attachments (id, conversation_id, message_id, position, direction, provider, channel,
                         filename, content_type, size, sha256, blob_key, sniffed_type, status,
                         reason, url, media_id, next_attempt_at, created_at)
SELECT (a.value->>'id')::uuid, m.conversation_id, m.id, (a.ord - 1)::int, 'inbound', m.provider,
       m.channel, a.value->>'filename',
       coalesce(a.value->>'content_type', 'application/octet-stream'),
       (a.value->>'size')::bigint, a.value->>'sha256', a.value->>'blob_key',
       a.value->>'sniffed_type', a.value->>'status', a.value->>'reason', a.value->>'url',
       a.value->>'media_id', CASE WHEN a.value->>'status' = 'pending' THEN $3::timestamptz END,
       $3::timestamptz
FROM messages AS m
JOIN unnest($1::text[], $2::text[]) AS u(provider, id)
  ON m.provider = u.provider AND m.provider_message_id = u.id
CROSS JOIN LATERAL jsonb_array_elements(m.attachments) WITH ORDINALITY AS a(value, ord)
WHERE a.value ? 'id'
ON CONFLICT (id) DO NOTHING
"""


async def insert_inbound_attachments(
    connection: Any, messages: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Index the attachments of the stored messages `(provider, provider message id)`."""
    if messages:
        await connection.execute(
            _INSERT_INBOUND, [key[0] for key in messages], [key[1] for key in messages], now
        )
