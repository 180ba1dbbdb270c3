"""An owner who leaves: their accepted conversations go back to the queue after a grace period.

A queue whose `on_owner_away` is `requeue_after` takes an accepted conversation back from an
agent who has been away or offline for longer than its `owner_away_grace_seconds`, once the
customer is waiting for an answer: at the customer's next message (a routing batch, below),
or at the next sweep when a message of theirs is already unanswered
(`router.routing.overdue`). A conversation nobody is waiting on stays with its owner: there
is nothing to answer, and they may well be back before there is.

It keeps its place in the queue (`waiting_since`, as when it first waited), the agent's slot
is freed, and the history says why (the owner's presence and since when).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.channels import Channel
from router.conversations.history import Change, Journal
from router.models import ConversationStatus, OfferState
from router.routing.board import Board
from router.routing.records import Routable

# Owners of these (accepted) conversations gone for longer than their queue's grace.
_GONE_OWNERS = """
SELECT u.id, a.presence, a.presence_changed_at, q.owner_away_grace_seconds
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS u(id, agent, queue)
JOIN agents AS a ON a.id = u.agent
JOIN queues AS q ON q.id = u.queue
WHERE q.on_owner_away = 'requeue_after' AND a.presence <> 'online'
  AND a.presence_changed_at + make_interval(secs => q.owner_away_grace_seconds) <= $4
"""


@dataclass(frozen=True)
class Departure:
    """How the owner left: their presence, since when, and the queue's grace period."""

    presence: str
    since: datetime
    grace_seconds: int


def requeue_from_owner(conversation: Routable, journal: Journal, departure: Departure) -> uuid.UUID:
    """Hand an accepted conversation back to its queue, keeping its place; returns the owner.

    The caller frees the owner's slot (on its board, or outside it).
    """
    owner = conversation.agent_id
    assert owner is not None
    conversation.agent_id = None
    conversation.offer_state = None
    conversation.offered_at = None
    conversation.offer_expires_at = None
    conversation.last_agent_id = owner
    since = departure.since.isoformat()
    journal.record(
        conversation.id,
        Change.REQUEUED,
        f"owner {departure.presence} since {since}, longer than the queue's"
        f" {departure.grace_seconds} s grace",
        agent_id=owner,
        queue_id=conversation.queue_id,
        details={
            "rule": "owner_away",
            "owner": str(owner),
            "presence": departure.presence,
            "since": since,
            "grace_seconds": departure.grace_seconds,
            "waiting_since": conversation.waiting_since.isoformat(),
        },
    )
    return owner


async def requeue_from_gone_owners(
    connection: Any,
    conversations: Iterable[Routable],
    board: Callable[[], Awaitable[Board]],
    journal: Journal,
) -> int:
    """The customers of these conversations just wrote: take back those whose owner is gone.

    One statement finds them (none when no accepted conversation is among them); their
    slots are freed through the batch's (unlocked) board, in its ordered claim. Returns how
    many went back to their queue.
    """
    accepted = {
        conversation.id: conversation
        for conversation in conversations
        if conversation.status == ConversationStatus.OPEN
        and conversation.offer_state == OfferState.ACCEPTED
        and conversation.agent_id is not None
        and conversation.queue_id is not None
    }
    if not accepted:
        return 0
    found = await connection.fetch(
        _GONE_OWNERS,
        list(accepted),
        [conversation.agent_id for conversation in accepted.values()],
        [conversation.queue_id for conversation in accepted.values()],
        journal.now,
    )
    if not found:
        return 0
    routing_board = await board()
    for conversation_id, presence, since, grace in found:
        conversation = accepted[conversation_id]
        owner = requeue_from_owner(conversation, journal, Departure(presence, since, grace))
        routing_board.release_absent(str(owner), Channel(conversation.channel))
    return len(found)
