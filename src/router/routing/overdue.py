"""The queues' time rules, swept: an owner gone, a reply overdue, a wait past the limit.

One statement per kind of move finds its conversations, locked `FOR UPDATE SKIP LOCKED` as
the other sweeps take theirs, so two router processes never move the same one:

* **owner gone** (`on_owner_away = requeue_after`): an accepted conversation whose customer
  has an unanswered message and whose owner has been away or offline past the grace period
  goes back to its queue (`router.routing.departures`); the customer need not write again.
* **no reply** (`reply_time_seconds`): an accepted conversation whose oldest unanswered
  message has waited longer than the reply time (counted from when its owner got it, if
  later) is flagged once (`reply_overdue`, on the events topic too), and then, as the queue
  says (`on_no_reply`): stays (`flag`), goes back to the queue (`requeue`) or is offered to
  the next eligible agent (`next_agent`); the silent owner is left out of its offers for
  the usual exclusion time.
* **overflow after waiting** (`max_wait_seconds`): a conversation waiting in its queue for
  longer than the limit moves to the queue's overflow queue, keeping its arrival time; the
  drain that follows in the same sweep offers it there.

The capacity rows of every owner losing a conversation are locked in one ordered statement
(a locked board, as offer expiry takes it), so counts move exactly as other moves move them:
never two owners, never over capacity, and offers go to online agents only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from router.channels import Channel
from router.conversations.history import Change, Journal
from router.db import driver_connection
from router.models import Agent, Conversation, ConversationStatus, OfferState, Queue
from router.routing.assignment import exclusion, offer, take_back
from router.routing.board import Board, load_board
from router.routing.departures import Departure, requeue_from_owner
from router.routing.explanation import UNKNOWN_PLACEMENT, OfferPath, Placement, read_placements
from router.service_levels.tracking import follow as follow_slas
from router.settings import Settings

SWEEP_LIMIT = 500


def _seconds(column: Any) -> ColumnElement[Any]:
    return func.make_interval(0, 0, 0, 0, 0, 0, column)


def _accepted() -> list[ColumnElement[bool]]:
    return [
        Conversation.status == ConversationStatus.OPEN.value,
        Conversation.offer_state == OfferState.ACCEPTED.value,
        Conversation.awaiting_reply_since.is_not(None),
    ]


# Slots of owners who are not on the board (not online), freed together; their rows are
# locked already, by the board's ordered statement.
_FREE_ABSENT = text(
    """
    UPDATE agent_capacities AS c SET active = GREATEST(c.active - f.n, 0)
    FROM (
        SELECT agent_id, channel, count(*) AS n
        FROM unnest(CAST(:agents AS uuid[]), CAST(:channels AS text[])) AS u(agent_id, channel)
        GROUP BY agent_id, channel
    ) AS f
    WHERE c.agent_id = f.agent_id AND c.channel = f.channel
    """
)


async def move_overdue(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Apply the queues' time rules once; returns how many conversations were moved or flagged.

    Queues that set none of the rules cost one indexed read per kind of move.
    """
    journal = Journal(now, settings.topic_events if settings.transport_is_kafka() else None)
    gone = (
        await session.execute(
            select(
                Conversation,
                Agent.presence,
                Agent.presence_changed_at,
                Queue.owner_away_grace_seconds,
            )
            .join(Queue, Queue.id == Conversation.queue_id)
            .join(Agent, Agent.id == Conversation.agent_id)
            .where(
                *_accepted(),
                Queue.on_owner_away == "requeue_after",
                Agent.presence != "online",
                Agent.presence_changed_at + _seconds(Queue.owner_away_grace_seconds) <= now,
            )
            .order_by(Conversation.id)
            .limit(SWEEP_LIMIT)
            .with_for_update(of=Conversation, skip_locked=True)
        )
    ).all()
    taken = {row[0].id for row in gone}
    # The reply clock runs from the oldest unanswered message, or from when the owner got
    # the conversation if that came later; one flag per such start.
    started = func.greatest(Conversation.awaiting_reply_since, Conversation.offered_at)
    silent = [
        row
        for row in (
            await session.execute(
                select(Conversation, Queue.reply_time_seconds, Queue.on_no_reply)
                .join(Queue, Queue.id == Conversation.queue_id)
                .where(
                    *_accepted(),
                    Queue.reply_time_seconds.is_not(None),
                    started + _seconds(Queue.reply_time_seconds) <= now,
                    or_(
                        Conversation.reply_overdue_at.is_(None),
                        Conversation.reply_overdue_at <= started,
                    ),
                )
                .order_by(Conversation.id)
                .limit(SWEEP_LIMIT)
                .with_for_update(of=Conversation, skip_locked=True)
            )
        ).all()
        if row[0].id not in taken
    ]
    moved = await _overflow(session, settings, journal, now)
    if gone or silent:
        holders = {row[0].agent_id for row in gone} | {row[0].agent_id for row in silent}
        board = await load_board(
            session, now, lock=True, also_lock={h for h in holders if h is not None}
        )
        absent: list[tuple[uuid.UUID, Channel]] = []
        for conversation, presence, since, grace in gone:
            owner = requeue_from_owner(
                conversation, journal, Departure(presence, since, grace or 0)
            )
            _free(board, absent, owner, Channel(conversation.channel))
        placements = await read_placements(
            await driver_connection(session), [row[0].id for row in silent]
        )
        for conversation, reply_time, action in silent:
            placement = placements.get(conversation.id, UNKNOWN_PLACEMENT)
            _no_reply(
                board, absent, conversation, journal, settings, reply_time or 0, action, placement
            )
        if absent:
            await session.execute(
                _FREE_ABSENT,
                {
                    "agents": [agent for agent, _ in absent],
                    "channels": [channel.value for _, channel in absent],
                },
            )
        await journal.flush(session)
        await board.save(session)
    else:
        await journal.flush(session)
    return len(gone) + len(silent) + moved


def _free(
    board: Board, absent: list[tuple[uuid.UUID, Channel]], agent: uuid.UUID, channel: Channel
) -> None:
    # `take_back` frees the slot of an agent on the board; the others are freed in SQL.
    if str(agent) not in board.agents:
        absent.append((agent, channel))
    else:
        board.release(str(agent), channel)


def _no_reply(
    board: Board,
    absent: list[tuple[uuid.UUID, Channel]],
    conversation: Conversation,
    journal: Journal,
    settings: Settings,
    reply_time: int,
    action: str,
    placement: Placement,
) -> None:
    """Flag the silent owner once; then requeue or offer on, as the queue says."""
    now = journal.now
    owner = conversation.agent_id
    assert owner is not None
    assert conversation.awaiting_reply_since is not None
    conversation.reply_overdue_at = now
    waiting = conversation.awaiting_reply_since
    journal.record(
        conversation.id,
        Change.REPLY_OVERDUE,
        f"no reply within the queue's {reply_time} s",
        agent_id=owner,
        queue_id=conversation.queue_id,
        details={
            "awaiting_reply_since": waiting.isoformat(),
            "reply_time_seconds": reply_time,
            "on_no_reply": action,
        },
    )
    if action == "flag":
        return
    if str(owner) not in board.agents:
        absent.append((owner, Channel(conversation.channel)))
    take_back(
        board,
        conversation,
        journal,
        Change.REQUEUED,
        f"no reply within the queue's {reply_time} s",
        exclude=exclusion("no reply", now, timedelta(seconds=settings.offer_exclusion_seconds)),
    )
    if action == "next_agent":
        offer(
            board,
            conversation,
            journal,
            offer_timeout=timedelta(seconds=settings.offer_timeout_seconds),
            path=OfferPath.NO_REPLY,
            placement=placement,
        )


async def _overflow(
    session: AsyncSession, settings: Settings, journal: Journal, now: datetime
) -> int:
    """Move conversations waiting past their queue's limit to its overflow queue."""
    overflow = aliased(Queue)
    # After an overflow the next queue's limit counts from the move, not from arrival.
    waited_from = func.greatest(Conversation.waiting_since, Conversation.overflowed_at)
    found = (
        await session.execute(
            select(Conversation, Queue.name, Queue.max_wait_seconds, overflow.id, overflow.name)
            .join(Queue, Queue.id == Conversation.queue_id)
            .join(overflow, overflow.id == Queue.overflow_queue_id)
            .where(
                Conversation.status == ConversationStatus.OPEN.value,
                Conversation.agent_id.is_(None),
                Queue.max_wait_seconds.is_not(None),
                waited_from + _seconds(Queue.max_wait_seconds) <= now,
            )
            .order_by(Conversation.id)
            .limit(SWEEP_LIMIT)
            .with_for_update(of=Conversation, skip_locked=True)
        )
    ).all()
    for conversation, name, limit, target_id, target in found:
        waited = (now - conversation.waiting_since).total_seconds()
        conversation.queue_id = target_id
        conversation.overflowed_at = now
        journal.record(
            conversation.id,
            Change.OVERFLOWED,
            f"waited {waited:g} s, longer than {name}'s {limit} s; overflow to {target}",
            queue_id=target_id,
            details={
                "rule": "max_wait",
                "from_queue": name,
                "to_queue": target,
                "max_wait_seconds": limit,
                "waiting_since": conversation.waiting_since.isoformat(),
            },
        )
    # Another queue may mean another SLA policy, or other business hours.
    await follow_slas(session, [row[0].id for row in found], settings, now)
    return len(found)
