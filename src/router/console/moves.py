"""Moving a conversation between owners, shared by agents' transfers and supervisors' moves.

Capacity is taken with a conditional `UPDATE ... WHERE active < capacity`, the same guard the
routing board relies on, so a transfer can never push an agent past their capacity. Locks
follow the order of `router.routing.board`: the conversation, then the capacity rows in
(agent, channel) order; an offer reads the agent's presence only once the slot is locked,
as a routing claim does.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel, Presence
from router.conversations.history import Actor, Change, Journal
from router.db import driver_connection
from router.errors import Conflict, InvalidPayload
from router.models import Agent, AgentCapacity, Conversation, OfferState, Queue
from router.routing.assignment import exclusion
from router.routing.board import DEFAULT_QUEUE, load_board
from router.routing.decision import ConversationToRoute, decide_owner
from router.routing.exclusions import read_exclusions, with_exclusion
from router.routing.explanation import (
    UNKNOWN_PLACEMENT,
    OfferPath,
    explain_offer,
    read_placements,
)
from router.routing.offers import release_slot
from router.service_levels.tracking import follow as follow_slas
from router.settings import Settings


def journal_for(settings: Settings, now: datetime) -> Journal:
    """A journal that also fills the outbox when Kafka carries the events."""
    return Journal(now, settings.topic_events if settings.transport_is_kafka() else None)


async def take_slot(session: AsyncSession, agent_id: uuid.UUID, channel: Channel) -> bool:
    """Count one more active conversation for the agent, only if they have room."""
    taken = await session.execute(
        update(AgentCapacity)
        .where(
            AgentCapacity.agent_id == agent_id,
            AgentCapacity.channel == channel.value,
            AgentCapacity.active < AgentCapacity.capacity,
        )
        .values(active=AgentCapacity.active + 1)
        .returning(AgentCapacity.active)
    )
    return taken.first() is not None


async def existing_queue(session: AsyncSession, queue_id: uuid.UUID) -> Queue:
    """The target queue of a move; 422 when it does not exist."""
    queue = await session.get(Queue, queue_id)
    if queue is None:
        raise InvalidPayload(f"queue_id: no queue {queue_id}", field="queue_id")
    return queue


async def existing_agent(session: AsyncSession, agent_id: uuid.UUID) -> Agent:
    """The target agent of a move; 422 when they do not exist."""
    agent = await session.scalar(select(Agent).where(Agent.id == agent_id))
    if agent is None:
        raise InvalidPayload(f"agent_id: no agent {agent_id}", field="agent_id")
    return agent


async def move_to_queue(
    session: AsyncSession,
    conversation: Conversation,
    queue_id: uuid.UUID,
    journal: Journal,
    *,
    actor: Actor,
    actor_id: str,
    reason: str,
    exclusion_window: timedelta,
) -> None:
    """Hand the conversation to a queue; it keeps its place by when it first started waiting.

    Its previous owner is left out of its offers for `exclusion_window`.
    """
    previous = conversation.agent_id
    from_queue = conversation.queue_id
    details: dict[str, object] = {
        "from_queue": str(from_queue) if from_queue else None,
        "from_agent": str(previous) if previous else None,
        "to_queue": str(queue_id),
    }
    if previous is not None:
        await release_slot(session, str(previous), Channel(conversation.channel))
        # Without this the sticky rule would offer it straight back to whoever moved it away.
        left_out = exclusion("transferred", journal.now, exclusion_window)
        conversation.excluded_agents = with_exclusion(
            conversation.excluded_agents, str(previous), left_out, journal.now
        )
        details["excluded"] = {str(previous): left_out.stored()}
    conversation.queue_id = queue_id
    conversation.agent_id = None
    conversation.offer_state = None
    conversation.offered_at = None
    conversation.offer_expires_at = None
    journal.record(
        conversation.id,
        Change.TRANSFERRED,
        reason,
        actor=actor,
        actor_id=actor_id,
        agent_id=previous,
        queue_id=queue_id,
        details=details,
    )


async def hand_to_agent(
    session: AsyncSession,
    conversation: Conversation,
    agent: Agent,
    journal: Journal,
    *,
    accepted: bool,
    offer_timeout: timedelta,
    change: Change,
    actor: Actor,
    actor_id: str,
    reason: str,
) -> None:
    """Give the conversation to an agent: as an offer they must accept, or accepted outright.

    Refused (409) when they already own it or have no free slot on its channel; an offer
    also needs them online, or it would only lapse.
    """
    channel = Channel(conversation.channel)
    if conversation.agent_id == agent.id:
        raise Conflict("the agent already owns this conversation")
    if not accepted and agent.presence != Presence.ONLINE.value:
        raise Conflict(f"agent {agent.handle} is {agent.presence}; offers go to online agents")
    # Explained before the slots change: the verdicts show the team as the person saw it.
    explanation = await _explain_handover(session, conversation, agent, change, reason, journal.now)
    previous = conversation.agent_id
    if previous is not None and previous < agent.id:
        await release_slot(session, str(previous), channel)
    if not await take_slot(session, agent.id, channel):
        raise Conflict(f"agent {agent.handle} has no free capacity on {channel.value}")
    if previous is not None and previous > agent.id:
        await release_slot(session, str(previous), channel)
    if not accepted:
        # Read again now the slot is locked: an agent leaving `online` either committed
        # before (seen here) or waits for this slot and then takes the offer back.
        presence = await session.scalar(select(Agent.presence).where(Agent.id == agent.id))
        if presence != Presence.ONLINE.value:
            raise Conflict(f"agent {agent.handle} is {presence}; offers go to online agents")
    now = journal.now
    conversation.agent_id = agent.id
    conversation.offered_at = now
    if accepted:
        conversation.offer_state = OfferState.ACCEPTED.value
        conversation.offer_expires_at = None
        conversation.last_agent_id = agent.id
        conversation.excluded_agents = {}
    else:
        conversation.offer_state = OfferState.OFFERED.value
        conversation.offer_expires_at = now + offer_timeout
    journal.record(
        conversation.id,
        change,
        reason,
        actor=actor,
        actor_id=actor_id,
        agent_id=agent.id,
        queue_id=conversation.queue_id,
        details={
            **explanation,
            "from_agent": str(previous) if previous else None,
            "to_agent": str(agent.id),
            "offer_state": conversation.offer_state,
        },
    )


async def _explain_handover(
    session: AsyncSession,
    conversation: Conversation,
    agent: Agent,
    change: Change,
    reason: str,
    now: datetime,
) -> dict[str, object]:
    """The offer's explanation for a person's choice of agent, beside routing's own verdicts.

    Read on an unlocked board (plain reads, no locks); `routing_choice` says whom routing
    would have picked among the team, stickiness aside (the owner is handing it on).
    """
    board = await load_board(session, now)
    queue_id = conversation.queue_id
    queue_name = (
        board.queue_name(queue_id)
        if queue_id is not None and queue_id in board.queue_ids.values()
        else DEFAULT_QUEUE
    )
    decision = decide_owner(
        ConversationToRoute(
            conversation_id=str(conversation.id),
            channel=Channel(conversation.channel),
            excluded=read_exclusions(conversation.excluded_agents),
        ),
        board.queues[queue_name],
        board.agents.values(),
        now,
    )
    placements = await read_placements(await driver_connection(session), [conversation.id])
    return explain_offer(
        decision,
        placements.get(conversation.id, UNKNOWN_PLACEMENT),
        OfferPath.TRANSFER if change is Change.TRANSFERRED else OfferPath.ASSIGN,
        offered_to=str(agent.id),
        reason=reason,
    )


async def redirect(
    session: AsyncSession,
    settings: Settings,
    conversation: Conversation,
    now: datetime,
    *,
    queue_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    accepted: bool,
    change: Change,
    actor: Actor,
    actor_id: str,
    reason: str,
) -> None:
    """Send an open conversation to a queue (keeping its place) or to an agent.

    To an agent it is an offer, or accepted work when a supervisor force-assigns it.
    """
    journal = journal_for(settings, now)
    if queue_id is not None:
        await existing_queue(session, queue_id)
        await move_to_queue(
            session,
            conversation,
            queue_id,
            journal,
            actor=actor,
            actor_id=actor_id,
            reason=reason,
            exclusion_window=timedelta(seconds=settings.offer_exclusion_seconds),
        )
    else:
        assert agent_id is not None
        await hand_to_agent(
            session,
            conversation,
            await existing_agent(session, agent_id),
            journal,
            accepted=accepted,
            offer_timeout=timedelta(seconds=settings.offer_timeout_seconds),
            change=change,
            actor=actor,
            actor_id=actor_id,
            reason=reason,
        )
    await journal.flush(session)
    # Another queue may mean another SLA policy, or other business hours.
    await follow_slas(session, [conversation.id], settings, now)
