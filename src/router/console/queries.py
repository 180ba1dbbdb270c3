"""The read side of the console: my work list, one conversation with its history, me.

Visibility is one rule, used by every read and every action: supervisors and admins see every
conversation; an agent sees the ones they own or are offered, and the resolved ones they
owned last (so they can reopen them). Anything else answers 404, as if it did not exist.

One exception, for reading only: an agent who once owned a conversation (accepted it, or was
given it as accepted work) and handed it on still reads it (`GET` of the conversation, and
the list with `owned=previously`), so they can follow up what they passed on. Every action
on it stays refused to them like to anyone else who does not own it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, select, tuple_
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.service import Principal
from router.channels import Channel
from router.console import cursor
from router.console.schemas import (
    AgentOut,
    ChannelLoad,
    ConversationDetail,
    ConversationPage,
    ConversationSummary,
    CustomerOut,
    EventOut,
    EventPage,
    MeOut,
    MessageOut,
    MessagePage,
)
from router.conversations.service import lock_conversation
from router.errors import NotFound
from router.feedback.schemas import FeedbackOut
from router.models import (
    Agent,
    AgentCapacity,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Feedback,
    Message,
    QueueAgent,
)
from router.models.conversations import TOOK_OWNERSHIP
from router.service_levels.queries import clocks_of


class Ownership(StrEnum):
    """Which of an agent's conversations a list holds."""

    NOW = "now"  # owned or offered now; resolved: owned last
    PREVIOUSLY = "previously"  # owned once, handed on since: theirs to read, not to act on


@dataclass(frozen=True)
class ConversationFilter:
    status: ConversationStatus = ConversationStatus.OPEN
    channel: Channel | None = None
    queue_id: uuid.UUID | None = None
    owned: Ownership = Ownership.NOW


def _mine(principal: Principal, status: ConversationStatus) -> ColumnElement[bool]:
    # Split by status so the open case is answered by the partial index on open agent work.
    if status is ConversationStatus.OPEN:
        return Conversation.agent_id == principal.agent_id
    return Conversation.last_agent_id == principal.agent_id


def _owned_before(principal: Principal, status: ConversationStatus) -> ColumnElement[bool]:
    # Answered by the partial index of ownership events: the predicate is the index's own.
    took = select(ConversationEvent.conversation_id).where(
        ConversationEvent.agent_id == principal.agent_id, sql(TOOK_OWNERSHIP)
    )
    current = (
        Conversation.agent_id if status is ConversationStatus.OPEN else Conversation.last_agent_id
    )
    return and_(Conversation.id.in_(took), current.is_distinct_from(principal.agent_id))


async def owned_before(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> bool:
    """Whether the caller's agent once took ownership of the conversation."""
    if principal.agent_id is None:
        return False
    took = await session.scalar(
        select(
            exists().where(
                ConversationEvent.conversation_id == conversation_id,
                ConversationEvent.agent_id == principal.agent_id,
                sql(TOOK_OWNERSHIP),
            )
        )
    )
    return bool(took)


def can_read(principal: Principal, conversation: Conversation) -> bool:
    """The visibility rule above, for one loaded conversation."""
    if principal.is_supervisor:
        return True
    if principal.agent_id is None:
        return False
    if conversation.status == ConversationStatus.OPEN:
        return conversation.agent_id == principal.agent_id
    return conversation.last_agent_id == principal.agent_id


async def load_visible(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, lock: bool
) -> Conversation:
    """The conversation if the caller may see it (locked for update when asked); else 404."""
    if lock:
        conversation = await lock_conversation(session, conversation_id)
    else:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.id == conversation_id)
        )
    if conversation is None or not can_read(principal, conversation):
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation


async def list_conversations(
    session: AsyncSession,
    principal: Principal,
    filters: ConversationFilter,
    after: str | None,
    limit: int,
) -> ConversationPage:
    """One page of the caller's conversations, oldest first, after the cursor."""
    conditions: list[ColumnElement[bool]] = [Conversation.status == filters.status.value]
    if not principal.is_supervisor:
        if filters.owned is Ownership.PREVIOUSLY:
            conditions.append(_owned_before(principal, filters.status))
        else:
            conditions.append(_mine(principal, filters.status))
    if filters.channel is not None:
        conditions.append(Conversation.channel == filters.channel.value)
    if filters.queue_id is not None:
        conditions.append(Conversation.queue_id == filters.queue_id)
    if after is not None:
        created, ident = cursor.decode_time_id(after)
        conditions.append(tuple_(Conversation.created_at, Conversation.id) > (created, ident))
    rows = (
        await session.scalars(
            select(Conversation)
            .where(and_(*conditions))
            .order_by(Conversation.created_at, Conversation.id)
            .limit(limit + 1)
        )
    ).all()
    clocks = await clocks_of(session, [row.id for row in rows[:limit]])
    items = [
        ConversationSummary.model_validate(row).model_copy(update={"slas": clocks[row.id]})
        for row in rows[:limit]
    ]
    following = None
    if len(rows) > limit:
        last = rows[limit - 1]
        following = cursor.encode(last.created_at, last.id)
    return ConversationPage(items=items, next_cursor=following)


async def conversation_detail(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    messages_after: str | None,
    messages_limit: int,
    events_after: str | None,
    events_limit: int,
) -> ConversationDetail:
    """A conversation with one page of its messages (oldest first) and of its events.

    Its previous owners read it too (see the module's docstring).
    """
    conversation = await session.scalar(
        select(Conversation).where(Conversation.id == conversation_id)
    )
    if conversation is None or not (
        can_read(principal, conversation) or await owned_before(session, principal, conversation.id)
    ):
        raise NotFound(f"conversation {conversation_id} does not exist")
    customer = await session.get_one(Customer, conversation.customer_id)

    message_filter: list[ColumnElement[bool]] = [Message.conversation_id == conversation.id]
    if messages_after is not None:
        created, ident = cursor.decode_time_id(messages_after, "messages_cursor")
        message_filter.append(tuple_(Message.created_at, Message.id) > (created, ident))
    messages = (
        await session.scalars(
            select(Message)
            .where(*message_filter)
            .order_by(Message.created_at, Message.id)
            .limit(messages_limit + 1)
        )
    ).all()
    next_messages = None
    if len(messages) > messages_limit:
        last = messages[messages_limit - 1]
        next_messages = cursor.encode(last.created_at, last.id)

    event_filter: list[ColumnElement[bool]] = [ConversationEvent.conversation_id == conversation.id]
    if events_after is not None:
        event_filter.append(ConversationEvent.id > cursor.decode_int(events_after, "events_cursor"))
    events = (
        await session.scalars(
            select(ConversationEvent)
            .where(*event_filter)
            .order_by(ConversationEvent.id)
            .limit(events_limit + 1)
        )
    ).all()
    next_events = None
    if len(events) > events_limit:
        next_events = cursor.encode(events[events_limit - 1].id)

    clocks = await clocks_of(session, [conversation.id])
    feedback = (
        await session.scalars(
            select(Feedback)
            .where(Feedback.conversation_id == conversation.id)
            .order_by(Feedback.received_at, Feedback.id)
        )
    ).all()
    return ConversationDetail(
        feedback=[FeedbackOut.model_validate(row) for row in feedback],
        conversation=ConversationSummary.model_validate(conversation).model_copy(
            update={"slas": clocks[conversation.id]}
        ),
        customer=CustomerOut.model_validate(customer),
        messages=MessagePage(
            items=[MessageOut.model_validate(row) for row in messages[:messages_limit]],
            next_cursor=next_messages,
        ),
        events=EventPage(
            items=[EventOut.model_validate(row) for row in events[:events_limit]],
            next_cursor=next_events,
        ),
    )


async def agent_loads(
    session: AsyncSession, agent_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ChannelLoad]]:
    """Capacity and active conversations per channel of each agent."""
    loads: dict[uuid.UUID, list[ChannelLoad]] = {agent_id: [] for agent_id in agent_ids}
    rows = await session.scalars(
        select(AgentCapacity)
        .where(AgentCapacity.agent_id.in_(agent_ids))
        .order_by(AgentCapacity.agent_id, AgentCapacity.channel)
    )
    for row in rows:
        loads[row.agent_id].append(
            ChannelLoad(channel=Channel(row.channel), capacity=row.capacity, active=row.active)
        )
    return loads


async def me(session: AsyncSession, principal: Principal) -> MeOut:
    """The caller: role, the agent they act as, its load per channel and its queues."""
    if principal.agent_id is None:
        return MeOut(
            role=principal.role.value,
            key_name=principal.name,
            agent=None,
            load=[],
            queue_ids=[],
        )
    agent = await session.get_one(Agent, principal.agent_id)
    loads = await agent_loads(session, [agent.id])
    queue_ids = (
        await session.scalars(
            select(QueueAgent.queue_id)
            .where(QueueAgent.agent_id == agent.id)
            .order_by(QueueAgent.queue_id)
        )
    ).all()
    return MeOut(
        role=principal.role.value,
        key_name=principal.name,
        agent=AgentOut.model_validate(agent),
        load=loads[agent.id],
        queue_ids=list(queue_ids),
    )
