"""A live call's progress as its call message keeps it: where the caller is, whom it rang.

The call message's `details` carry, besides the provider's status and duration:

- `call_stage`: `waiting` (the caller waits for an offer), `ringing` (an agent's endpoint
  rings), `connected` (an agent answered), `voicemail` (nobody was free: the caller was
  offered the voicemail and the conversation waits in its queue for a callback),
  `ended` (the connected call ended) or `abandoned` (the caller hung up while waiting);
- `call_attempts`: one entry per ring, `{agent_id, endpoint_kind, offer, rang_at, outcome,
  ring_seconds}`, `outcome` one of `ringing`, `answered`, `no-answer`, `busy`, `failed`,
  `canceled`;
- `answered_by`, `answered_at` and `talk_seconds` once an agent answered.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.models import Message

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Stage(StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"
    ENDED = "ended"
    ABANDONED = "abandoned"


def offer_mark(offered_at: datetime | None) -> int | None:
    """The offer's number as callback URLs carry it: when it was made, in microseconds.

    Each offer of a conversation is made at its own moment, so a callback naming an offer
    that has since moved on is recognised as stale and changes nothing.
    """
    if offered_at is None:
        return None
    return (offered_at - _EPOCH) // timedelta(microseconds=1)


async def find_call(
    session: AsyncSession, provider: str, call_sid: str
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(message id, conversation id) of the stored call, unlocked; None while not stored."""
    found = (
        await session.execute(
            select(Message.id, Message.conversation_id).where(
                Message.provider == provider,
                Message.provider_message_id == call_sid,
                Message.kind == "call",
            )
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def lock_call(session: AsyncSession, message_id: uuid.UUID) -> Message:
    """The call message, locked (after its conversation: the order every writer keeps)."""
    message = await session.scalar(
        select(Message).where(Message.id == message_id).with_for_update()
    )
    assert message is not None
    return message


def stage(message: Message) -> Stage | None:
    """Where the live call stands; None before the router first answered its wait."""
    value = message.details.get("call_stage")
    try:
        return Stage(value) if isinstance(value, str) else None
    except ValueError:
        return None


def attempts(message: Message) -> list[dict[str, Any]]:
    """The rings so far, oldest first."""
    found = message.details.get("call_attempts")
    return [dict(item) for item in found] if isinstance(found, list) else []


def note(message: Message, **values: Any) -> None:
    """Merge values into the call's details (a new dict, so the change is written)."""
    message.details = {**message.details, **values}


def ring_started(
    message: Message, agent_id: uuid.UUID, endpoint_kind: str, offer: int, now: datetime
) -> None:
    """Record a ring of an agent's endpoint, once per offer however often it is asked."""
    rings = attempts(message)
    if any(item.get("offer") == offer and item.get("agent_id") == str(agent_id) for item in rings):
        return
    rings.append(
        {
            "agent_id": str(agent_id),
            "endpoint_kind": endpoint_kind,
            "offer": offer,
            "rang_at": now.isoformat(),
            "outcome": "ringing",
            "ring_seconds": None,
        }
    )
    note(message, call_stage=Stage.RINGING.value, call_attempts=rings)


def ring_ended(
    message: Message, agent_id: uuid.UUID, offer: int, outcome: str, now: datetime
) -> float | None:
    """Close the ring of this offer with its outcome; how long it rang (None: no such ring)."""
    rings = attempts(message)
    for item in rings:
        if item.get("offer") == offer and item.get("agent_id") == str(agent_id):
            if item.get("outcome") != "ringing":
                return item.get("ring_seconds")
            rang = round((now - datetime.fromisoformat(item["rang_at"])).total_seconds(), 3)
            item.update(outcome=outcome, ring_seconds=rang)
            note(message, call_attempts=rings)
            return rang
    return None
