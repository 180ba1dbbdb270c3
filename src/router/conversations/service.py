"""What agents and supervisors do to conversations: accept, decline, resolve, presence.

Each function works inside the caller's transaction and locks the rows it changes; it never
commits. Capacity freed here is offered to waiting conversations by the next sweep. Locks are
taken in the order of `router.routing.board`: conversations, the agent row, capacity rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel, Presence
from router.conversations.history import Actor, Change, Journal
from router.errors import Conflict, NotFound
from router.models import Agent, AgentCapacity, Conversation, ConversationStatus, OfferState
from router.presence import history as presence_history
from router.routing.assignment import exclusion, take_back
from router.routing.offers import release_slot
from router.settings import Settings


def _journal(settings: Settings, now: datetime) -> Journal:
    return Journal(now, settings.topic_events if settings.transport_is_kafka() else None)


_LOCKED = "router.locked_conversations"


async def lock_conversation(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    """The conversation, locked for update; read from the database once per transaction.

    The console reads a conversation locked to check that the caller may see it, and the
    action it runs next locks it again: by then the lock is this transaction's and the row
    in the session is current, so the second lock costs no round trip.
    """
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, {})
    locked: dict[uuid.UUID, Conversation] = held[1]
    conversation = locked.get(conversation_id)
    if conversation is None:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        )
        if conversation is not None:
            locked[conversation_id] = conversation
    return conversation


async def _locked(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    conversation = await lock_conversation(session, conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation


async def accept_offer(
    session: AsyncSession,
    settings: Settings,
    conversation_id: uuid.UUID,
    agent_id: uuid.UUID,
    now: datetime,
) -> Conversation:
    """The offered agent takes the conversation on; it stays theirs until it moves on."""
    conversation = await _locked(session, conversation_id)
    if conversation.agent_id != agent_id or conversation.offer_state != OfferState.OFFERED:
        raise Conflict("there is no open offer of this conversation to this agent")
    conversation.offer_state = OfferState.ACCEPTED.value
    conversation.offer_expires_at = None
    conversation.last_agent_id = agent_id
    conversation.excluded_agents = {}
    journal = _journal(settings, now)
    journal.record(
        conversation.id,
        Change.ACCEPTED,
        "offer accepted",
        actor=Actor.AGENT,
        actor_id=str(agent_id),
        agent_id=agent_id,
        queue_id=conversation.queue_id,
    )
    await journal.flush(session)
    return conversation


async def decline_offer(
    session: AsyncSession,
    settings: Settings,
    conversation_id: uuid.UUID,
    agent_id: uuid.UUID,
    now: datetime,
) -> Conversation:
    """The offered agent says no: back to the queue, and not offered to them again for a while.

    The exclusion lasts `offer_exclusion_seconds`; then the agent is eligible again.
    """
    conversation = await _locked(session, conversation_id)
    if conversation.agent_id != agent_id or conversation.offer_state != OfferState.OFFERED:
        raise Conflict("there is no open offer of this conversation to this agent")
    journal = _journal(settings, now)
    take_back(
        None,
        conversation,
        journal,
        Change.DECLINED,
        "offer declined",
        exclude=exclusion("declined", now, timedelta(seconds=settings.offer_exclusion_seconds)),
        actor_id=str(agent_id),
    )
    await release_slot(session, str(agent_id), Channel(conversation.channel))
    await journal.flush(session)
    return conversation


async def resolve(
    session: AsyncSession,
    settings: Settings,
    conversation_id: uuid.UUID,
    actor_id: uuid.UUID | str,
    now: datetime,
    *,
    actor: Actor = Actor.AGENT,
    reason: str = "resolved",
) -> Conversation:
    """Close the conversation and free its owner's slot; the owner is kept for reopening."""
    conversation = await _locked(session, conversation_id)
    if conversation.status != ConversationStatus.OPEN:
        raise Conflict("the conversation is already resolved")
    owner = conversation.agent_id
    if owner is not None:
        # The finished work is kept on the slot's own row, never on the agent's: routing
        # locks capacity rows only, so resolving waits for nothing but this slot.
        await release_slot(session, str(owner), Channel(conversation.channel), finished_at=now)
        if conversation.offer_state == OfferState.ACCEPTED:
            conversation.last_agent_id = owner
    conversation.status = ConversationStatus.RESOLVED.value
    conversation.resolved_at = now
    # Nothing is left to answer; a message that reopens it starts the reply clock afresh.
    conversation.awaiting_reply_since = None
    conversation.agent_id = None
    conversation.offer_state = None
    conversation.offer_expires_at = None
    journal = _journal(settings, now)
    journal.record(
        conversation.id,
        Change.RESOLVED,
        reason,
        actor=actor,
        actor_id=str(actor_id),
        agent_id=owner,
        queue_id=conversation.queue_id,
    )
    await journal.flush(session)
    return conversation


async def set_presence(
    session: AsyncSession,
    settings: Settings,
    agent_id: uuid.UUID,
    presence: Presence,
    now: datetime,
    *,
    actor: str,
    reason: str | None = None,
) -> list[uuid.UUID]:
    """Change an agent's presence; leaving `online` hands unaccepted offers back to the queue.

    Accepted work stays with the agent. Returns the conversations taken back. The change is
    kept in the presence history with `actor` (the caller's label, or `system`) and `now`,
    the clock of the offers' events; a change to the same presence records nothing.

    Leaving `online`, the agent's capacity rows are locked after the new presence is written
    and before the offers are read again: a routing claim that locked them first has
    committed by then, and its offers are taken back here; one that locks them after reads
    the new presence and refuses the slots (see `router.routing.board`).
    """
    offered_to_agent = (
        select(Conversation)
        .where(
            Conversation.agent_id == agent_id,
            Conversation.status == ConversationStatus.OPEN.value,
            Conversation.offer_state == OfferState.OFFERED.value,
        )
        .order_by(Conversation.id)
        .with_for_update()
    )
    if presence is not Presence.ONLINE:
        # Conversations first: the order routing batches and agents' actions take them in.
        await session.scalars(offered_to_agent)
    # No key update: a routing batch naming the agent in a conversation (its foreign key
    # check takes a key share lock) does not wait for the presence change.
    agent = await session.scalar(
        select(Agent).where(Agent.id == agent_id).with_for_update(key_share=True)
    )
    if agent is None:
        raise NotFound(f"agent {agent_id} does not exist")
    if agent.presence == presence.value:
        return []
    previous = agent.presence
    agent.presence = presence.value
    agent.presence_changed_at = now
    if presence is Presence.ONLINE:
        agent.idle_since = now
    await session.flush()
    await presence_history.record_change(
        session,
        agent_id=agent_id,
        from_presence=previous,
        to_presence=presence.value,
        actor=actor,
        reason=reason,
        changed_at=now,
        events_topic=settings.topic_events if settings.transport_is_kafka() else None,
    )
    if presence is Presence.ONLINE:
        return []
    await session.execute(
        select(AgentCapacity.channel)
        .where(AgentCapacity.agent_id == agent_id)
        .order_by(AgentCapacity.channel)
        .with_for_update()
    )
    # Again under the capacity locks: an offer claimed just before they were taken counts too.
    offered = (await session.scalars(offered_to_agent)).all()
    journal = _journal(settings, now)
    for conversation in offered:
        take_back(
            None,
            conversation,
            journal,
            Change.REVOKED,
            f"agent went {presence.value} before accepting",
            actor_id=str(agent_id),
        )
        await release_slot(session, str(agent_id), Channel(conversation.channel))
    await journal.flush(session)
    return [conversation.id for conversation in offered]
