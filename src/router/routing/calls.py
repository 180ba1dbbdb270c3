"""A call's progress applied to its message: one call, one message, its furthest status.

A call arrives as a CALL message (the incoming-call webhook); its status callbacks are
`CallUpdate`s of that message. Providers redeliver and reorder callbacks, so a status
never gives way to one earlier in a call's life (a late `ringing` leaves `completed`
alone), the first outcome of a call is its outcome, and applying the same update twice
changes nothing. The outcome is also a `call_ended` change in the conversation's history,
and the calls that ended are returned, so a live call's end can settle its conversation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from router.conversations.history import Actor, Change, Journal
from router.db import driver_connection
from router.inbound.envelope import CallStatus, CallUpdate, InboundMessage

CallKey = tuple[str, str]

# The calls' conversations are locked before the calls: the order live-call callbacks keep.
_LOCK_CONVERSATIONS = """
SELECT c.id FROM conversations AS c
WHERE c.id IN (
    SELECT m.conversation_id FROM messages AS m
    JOIN unnest($1::text[], $2::text[]) AS u(provider, id)
      ON m.provider = u.provider AND m.provider_message_id = u.id
    WHERE m.kind = 'call'
)
ORDER BY c.id
FOR UPDATE OF c
"""

_LOCK_CALLS = """
SELECT m.id, m.conversation_id, m.provider, m.provider_message_id,
       m.details->>'call_status', m.details->>'call_duration_seconds',
       m.details->>'call_stage', m.direction
FROM messages AS m
JOIN unnest($1::text[], $2::text[]) AS u(provider, id)
  ON m.provider = u.provider AND m.provider_message_id = u.id
WHERE m.kind = 'call'
ORDER BY m.id
FOR UPDATE OF m
"""

# Durations are kept as text, like every other value the adapters put in `details`.
_UPDATE_CALLS = """
UPDATE messages AS m
SET details = m.details || jsonb_build_object('call_status', u.status)
    || CASE WHEN u.duration IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('call_duration_seconds', u.duration) END
FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, status, duration)
WHERE m.id = u.id
"""


def latest_per_call(updates: Sequence[CallUpdate]) -> dict[CallKey, CallUpdate]:
    """Each call's furthest update in the batch (with a duration, when one brings it)."""
    latest: dict[CallKey, CallUpdate] = {}
    for update in updates:
        key = (update.provider, update.provider_message_id)
        known = latest.get(key)
        if known is None or _supersedes(update, known.status, known.duration_seconds):
            latest[key] = update
    return latest


def _supersedes(news: CallUpdate, status: CallStatus | None, duration: int | None) -> bool:
    """Whether `news` changes a call that stands at `status` with `duration`."""
    if status is None or news.status.rank > status.rank:
        return True
    # The same status again adds only a duration it did not have; nothing else moves.
    return news.status is status and news.duration_seconds is not None and duration is None


def unseen_calls(
    messages: Sequence[InboundMessage], latest: dict[CallKey, CallUpdate]
) -> list[InboundMessage]:
    """The call messages to store for updates whose call is not in this batch.

    A call stored before is dropped later with every other redelivered message; one never
    stored (a call we placed has no incoming-call webhook) is stored from its update, so
    its outcome still reaches the conversation.
    """
    batch = {(message.provider, message.provider_message_id) for message in messages}
    return [update.call for key, update in latest.items() if key not in batch]


@dataclass(frozen=True, slots=True)
class _StoredCall:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    status: CallStatus | None
    duration: int | None
    stage: str | None
    inbound: bool


@dataclass(frozen=True, slots=True)
class EndedCall:
    """A call whose outcome arrived in this batch, and where its live progress stood."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    status: CallStatus
    duration: int | None
    stage: str | None
    inbound: bool


async def apply_call_updates(
    session: AsyncSession, latest: dict[CallKey, CallUpdate], journal: Journal
) -> list[EndedCall]:
    """Move each call's message to its furthest status; journal each call's outcome once.

    Set-based: two locking reads and one update for the whole batch. Runs after the batch's
    messages are stored, so a call and its status in one batch is one message. Returns the
    calls that ended with this batch.
    """
    connection = await driver_connection(session)
    providers, ids = zip(*latest, strict=True) if latest else ((), ())
    await connection.execute(_LOCK_CONVERSATIONS, list(providers), list(ids))
    ended: list[EndedCall] = []
    stored = [
        ((row[2], row[3]), _stored(row))
        for row in await connection.fetch(_LOCK_CALLS, list(providers), list(ids))
    ]
    changes: list[tuple[uuid.UUID, str, str | None]] = []
    for key, call in stored:
        news = latest[key]
        if not _supersedes(news, call.status, call.duration):
            continue
        duration = news.duration_seconds if news.duration_seconds is not None else call.duration
        changes.append((call.message_id, news.status.value, _text(duration)))
        if news.status.is_final and (call.status is None or not call.status.is_final):
            ended.append(
                EndedCall(
                    call.message_id,
                    call.conversation_id,
                    news.status,
                    duration,
                    call.stage,
                    call.inbound,
                )
            )
            journal.record(
                call.conversation_id,
                Change.CALL_ENDED,
                f"call {news.status.value}"
                + (f" after {duration} s" if duration is not None else ""),
                actor=Actor.CUSTOMER,
                details={
                    "message_id": str(call.message_id),
                    "call_sid": news.provider_message_id,
                    "status": news.status.value,
                    "duration_seconds": duration,
                    "event_id": news.event_id,
                },
            )
    if changes:
        message_ids, statuses, durations = (list(column) for column in zip(*changes, strict=True))
        await connection.execute(_UPDATE_CALLS, message_ids, statuses, durations)
    return ended


def _stored(row: Sequence[Any]) -> _StoredCall:
    try:
        status = CallStatus(row[4]) if row[4] is not None else None
    except ValueError:
        status = None  # a status this version does not know yet: any news replaces it
    duration = row[5]
    return _StoredCall(
        message_id=row[0],
        conversation_id=row[1],
        status=status,
        duration=int(duration) if isinstance(duration, str) and duration.isdigit() else None,
        stage=row[6],
        inbound=row[7] == "inbound",
    )


def _text(duration: int | None) -> str | None:
    return None if duration is None else str(duration)
