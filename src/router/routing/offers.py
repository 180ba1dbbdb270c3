"""Offers over time: lapsed offers move on, waiting queues drain as capacity frees.

Both sweeps take their conversations with `FOR UPDATE SKIP LOCKED`, so several router
processes can sweep side by side without doing the same work twice. Expiry then reads a
locked board; the drain, which runs after every resolve, plans on an unlocked board and
claims its slots as a routing batch does, so it never holds every agent's capacity rows
while it plans (the lock order is in `router.routing.board`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel
from router.conversations.history import Change, Journal
from router.db import driver_connection
from router.models import AgentCapacity, Conversation, ConversationStatus, OfferState
from router.routing.assignment import (
    exclusion,
    give_offer,
    offer,
    take_back,
    withdraw_unclaimed,
)
from router.routing.board import load_board
from router.routing.decision import WaitingConversation, plan_offers
from router.routing.exclusions import in_force, read_exclusions
from router.routing.explanation import (
    UNKNOWN_PLACEMENT,
    OfferPath,
    explain_offer,
    read_placements,
)
from router.service_levels.ordering import nearest_due
from router.settings import Settings

SWEEP_LIMIT = 500


def _journal(settings: Settings, now: datetime) -> Journal:
    return Journal(now, settings.topic_events if settings.transport_is_kafka() else None)


async def expire_offers(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Take back offers not accepted in time and offer each to the next eligible agent."""
    lapsed = (
        await session.scalars(
            select(Conversation)
            .where(
                Conversation.status == ConversationStatus.OPEN.value,
                Conversation.offer_state == OfferState.OFFERED.value,
                Conversation.offer_expires_at <= now,
            )
            .order_by(Conversation.id)
            .limit(SWEEP_LIMIT)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not lapsed:
        return 0
    # The capacity rows of the agents holding the lapsed offers are locked in the board's
    # ordered statement, even an agent's no longer online, whose slot is freed below.
    holders = {c.agent_id for c in lapsed if c.agent_id is not None}
    board = await load_board(session, now, lock=True, also_lock=holders)
    journal = _journal(settings, now)
    timeout = timedelta(seconds=settings.offer_timeout_seconds)
    window = timedelta(seconds=settings.offer_exclusion_seconds)
    placements = await read_placements(
        await driver_connection(session), [conversation.id for conversation in lapsed]
    )
    for conversation in lapsed:
        agent = conversation.agent_id
        if agent is not None and str(agent) not in board.agents:
            # The agent went offline meanwhile; their slot is not on the board.
            await release_slot(session, str(agent), Channel(conversation.channel))
        take_back(
            board,
            conversation,
            journal,
            Change.TIMED_OUT,
            f"not accepted within {settings.offer_timeout_seconds:g} s",
            exclude=exclusion("timed out", now, window),
        )
        offer(
            board,
            conversation,
            journal,
            offer_timeout=timeout,
            path=OfferPath.LAPSE,
            placement=placements.get(conversation.id, UNKNOWN_PLACEMENT),
        )
    await journal.flush(session)
    await board.save(session)
    return len(lapsed)


# Channels on which some online agent has a free slot right now (read without locks: only
# to skip conversations that certainly cannot be offered this round).
_FREE_CHANNELS = text(
    "SELECT DISTINCT c.channel FROM agent_capacities AS c JOIN agents AS a ON a.id = c.agent_id"
    " WHERE a.presence = 'online' AND c.active < c.capacity"
)


async def drain_waiting(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Offer waiting conversations to free agents: priority first, then longest waiting.

    Only conversations on a channel where someone has room are taken up, so a backlog that
    cannot move (every voice slot busy) costs nothing each sweep. The plan is made on
    unlocked reads (the waiting conversations and the board), and only the conversations it
    offers are locked: a backlog of hundreds stays free for routing batches (a customer's
    next message) and for other drains while this one plans. A planned conversation that
    meanwhile got an owner, moved to another queue, turned the planned agent away, or is
    locked by someone else is left for the next drain; so is an offer whose slot was given
    away between the board's read and its claim, without a trace. Returns the offers made.
    """
    free = list((await session.scalars(_FREE_CHANNELS)).all())
    if not free:
        return 0
    waiting = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.channel,
                Conversation.last_agent_id,
                Conversation.excluded_agents,
                Conversation.queue_id,
                Conversation.priority,
                Conversation.waiting_since,
                nearest_due(Conversation.id),
            )
            .where(
                Conversation.status == ConversationStatus.OPEN.value,
                Conversation.agent_id.is_(None),
                Conversation.queue_id.is_not(None),
                Conversation.channel.in_(free),
            )
            .order_by(Conversation.priority.desc(), Conversation.waiting_since, Conversation.id)
            .limit(SWEEP_LIMIT)
        )
    ).all()
    if not waiting:
        return 0
    # Planned on an unlocked board, then claimed: holding every online agent's capacity rows
    # while planning would make each resolve and routing claim wait for the whole drain.
    board = await load_board(session, now)
    if not any(
        agent.active.get(channel, 0) < capacity
        for agent in board.agents.values()
        for channel, capacity in agent.capacity.items()
    ):
        return 0
    queues = {str(row.id): row.queue_id for row in waiting}
    decisions = plan_offers(
        [
            WaitingConversation(
                conversation_id=str(row.id),
                channel=Channel(row.channel),
                previous_owner=str(row.last_agent_id) if row.last_agent_id else None,
                excluded=read_exclusions(row.excluded_agents),
                queue=board.queue_name(row.queue_id),
                priority=row.priority,
                waiting_since=row.waiting_since,
                sla_due_at=row.sla_due_at,
            )
            for row in waiting
        ],
        board.agents.values(),
        board.queues,
        now,
    )
    if not decisions:
        return 0
    planned = {decision.conversation_id: decision for decision in decisions}
    plan = [(cid, decision.agent_id) for cid, decision in planned.items() if decision.agent_id]
    # Locked in id order, as routing batches lock theirs; still waiting where they were.
    by_id = {
        str(conversation.id): conversation
        for conversation in (
            await session.scalars(
                select(Conversation)
                .where(
                    Conversation.id.in_([uuid.UUID(cid) for cid, _ in plan]),
                    Conversation.status == ConversationStatus.OPEN.value,
                    Conversation.agent_id.is_(None),
                )
                .order_by(Conversation.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
    }
    plan = [
        (cid, agent)
        for cid, agent in plan
        if cid in by_id
        and by_id[cid].queue_id == queues[cid]
        and agent not in in_force(by_id[cid].excluded_agents, now)
    ]
    journal = _journal(settings, now)
    timeout = timedelta(seconds=settings.offer_timeout_seconds)
    placements = await read_placements(
        await driver_connection(session), [by_id[cid].id for cid, _ in plan]
    )
    for conversation_id, agent in plan:
        conversation = by_id[conversation_id]
        decision = planned[conversation_id]
        explanation = explain_offer(
            decision, placements.get(conversation.id, UNKNOWN_PLACEMENT), OfferPath.DRAIN
        )
        explanation["waited_seconds"] = round((now - conversation.waiting_since).total_seconds(), 3)
        explanation["priority"] = conversation.priority
        give_offer(
            board,
            conversation,
            agent,
            journal,
            reason=f"capacity freed: {decision.reason.value}",
            details=explanation,
            offer_timeout=timeout,
        )
    refused = await board.save(session)
    offered = len(plan)
    for conversation_id, agent in plan:
        conversation = by_id[conversation_id]
        if (agent, Channel(conversation.channel)) in refused:
            # The slot went to someone else (or its agent left) since the board was read:
            # the conversation keeps waiting, for the next drain, with no trace of the offer.
            withdraw_unclaimed(conversation, journal)
            offered -= 1
    await journal.flush(session)
    return offered


async def release_slot(
    session: AsyncSession,
    agent_id: str,
    channel: Channel,
    *,
    finished_at: datetime | None = None,
) -> None:
    """Free one of an agent's slots on a channel (never below zero).

    `finished_at` is given when the agent finished the work (a resolve), not when an offer
    went back: routing then reads the agent as idle only since that time, as after work it
    has just given.
    """
    values: dict[str, object] = {"active": func.greatest(AgentCapacity.active - 1, 0)}
    if finished_at is not None:
        values["last_work_at"] = finished_at
    await session.execute(
        update(AgentCapacity)
        .where(AgentCapacity.agent_id == agent_id, AgentCapacity.channel == channel.value)
        .values(values)
    )
