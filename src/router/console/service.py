"""What agents do to conversations through the console, with the object-level checks.

Every function runs inside the caller's transaction and never commits. The caller first must
be able to see the conversation (else 404, see `queries`); changing it then needs the right
relation to it (else 403): only the offered agent accepts or declines, only the owner who
accepted it (or a supervisor) replies, transfers or resolves, only its last owner (or a
supervisor) reopens it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.errors import Forbidden
from router.auth.service import Principal
from router.channels import Channel
from router.console.moves import journal_for, redirect, take_slot
from router.console.queries import load_visible
from router.console.schemas import ReplyRequest, TransferRequest
from router.conversations import service as conversations
from router.conversations.history import Actor, Change
from router.errors import Conflict, ProblemError
from router.inbound.envelope import DeliveryStatus
from router.models import (
    Conversation,
    ConversationStatus,
    ConversationThread,
    Message,
    OfferState,
)
from router.outbound.email_thread import outbound_message_id, reply_subject, reply_thread
from router.outbound.ports import SenderDirectory
from router.service_levels.tracking import follow as follow_slas
from router.settings import Settings

CONSOLE_PROVIDER = "console"


class ReplyChannelNotConfigured(ProblemError):
    status = 503
    problem = "reply-channel-not-configured"
    title = "Replies on this channel are not configured"


def actor_of(principal: Principal) -> tuple[Actor, str]:
    """How the caller appears in the history: kind, and their agent id (or key or token)."""
    kind = Actor.SUPERVISOR if principal.is_supervisor else Actor.AGENT
    return kind, principal.actor_id


def _acting_agent(principal: Principal) -> uuid.UUID:
    if principal.agent_id is None:
        raise Forbidden("only a key or token bound to an agent can take or turn down offers")
    return principal.agent_id


def _require_owner(principal: Principal, conversation: Conversation, action: str) -> None:
    if principal.is_supervisor:
        return
    if (
        conversation.agent_id != principal.agent_id
        or conversation.offer_state != OfferState.ACCEPTED
    ):
        raise Forbidden(f"only the owner who accepted the conversation (or a supervisor) {action}")


def _require_open(conversation: Conversation) -> None:
    if conversation.status != ConversationStatus.OPEN:
        raise Conflict("the conversation is resolved; reopen it first")


async def accept(
    session: AsyncSession, settings: Settings, principal: Principal, cid: uuid.UUID, now: datetime
) -> Conversation:
    """The offered agent accepts."""
    agent_id = _acting_agent(principal)
    await load_visible(session, principal, cid, lock=True)
    return await conversations.accept_offer(session, settings, cid, agent_id, now)


async def decline(
    session: AsyncSession, settings: Settings, principal: Principal, cid: uuid.UUID, now: datetime
) -> Conversation:
    """The offered agent declines; the queue gets it back and offers it to someone else."""
    agent_id = _acting_agent(principal)
    await load_visible(session, principal, cid, lock=True)
    return await conversations.decline_offer(session, settings, cid, agent_id, now)


async def resolve(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    cid: uuid.UUID,
    now: datetime,
    reason: str | None,
) -> Conversation:
    """The owner (or a supervisor) closes the conversation, freeing the owner's slot."""
    conversation = await load_visible(session, principal, cid, lock=True)
    _require_open(conversation)
    _require_owner(principal, conversation, "resolves it")
    actor, actor_id = actor_of(principal)
    resolved = await conversations.resolve(
        session,
        settings,
        cid,
        actor_id,
        now,
        actor=actor,
        reason=reason or "resolved",
    )
    await follow_slas(session, [cid], settings, now)
    return resolved


async def reopen(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    cid: uuid.UUID,
    now: datetime,
    reason: str | None,
) -> Conversation:
    """Open a resolved conversation again.

    Its last owner reopening it takes it back at once (accepted) when they have a free slot;
    otherwise, and when a supervisor reopens it, it waits in its queue and is offered to the
    last owner first.
    """
    conversation = await load_visible(session, principal, cid, lock=True)
    if conversation.status == ConversationStatus.OPEN:
        raise Conflict("the conversation is already open")
    if not principal.is_supervisor and conversation.last_agent_id != principal.agent_id:
        raise Forbidden("only the conversation's last owner (or a supervisor) reopens it")
    actor, actor_id = actor_of(principal)
    journal = journal_for(settings, now)
    conversation.status = ConversationStatus.OPEN.value
    conversation.resolved_at = None
    conversation.waiting_since = now
    conversation.excluded_agents = {}
    journal.record(
        conversation.id,
        Change.REOPENED,
        reason or "reopened from the console",
        actor=actor,
        actor_id=actor_id,
        queue_id=conversation.queue_id,
        details={"previous_owner": str(conversation.last_agent_id)},
    )
    agent_id = principal.agent_id
    if (
        agent_id is not None
        and conversation.last_agent_id == agent_id
        and await take_slot(session, agent_id, Channel(conversation.channel))
    ):
        conversation.agent_id = agent_id
        conversation.offer_state = OfferState.ACCEPTED.value
        conversation.offered_at = now
        conversation.offer_expires_at = None
        journal.record(
            conversation.id,
            Change.ACCEPTED,
            "reopened by its owner",
            actor=actor,
            actor_id=actor_id,
            agent_id=agent_id,
            queue_id=conversation.queue_id,
        )
    await journal.flush(session)
    await follow_slas(session, [conversation.id], settings, now)
    return conversation


async def transfer(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    cid: uuid.UUID,
    now: datetime,
    request: TransferRequest,
) -> Conversation:
    """Hand the conversation on: to an agent as an offer, or to a queue (keeping its place)."""
    conversation = await load_visible(session, principal, cid, lock=True)
    _require_open(conversation)
    _require_owner(principal, conversation, "transfers it")
    actor, actor_id = actor_of(principal)
    await redirect(
        session,
        settings,
        conversation,
        now,
        queue_id=request.queue_id,
        agent_id=request.agent_id,
        accepted=False,
        change=Change.TRANSFERRED,
        actor=actor,
        actor_id=actor_id,
        reason=request.reason
        or ("transferred to a queue" if request.queue_id else "transferred to an agent"),
    )
    return conversation


async def add_note(
    session: AsyncSession, principal: Principal, cid: uuid.UUID, now: datetime, text: str
) -> Message:
    """An internal note, visible to agents and supervisors, never sent to the customer."""
    conversation = await load_visible(session, principal, cid, lock=False)
    note = Message(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        direction="internal",
        kind="text",
        channel=conversation.channel,
        provider=CONSOLE_PROVIDER,
        author_agent_id=principal.agent_id,
        text=text,
        stripped_text=text,
        attachments=[],
        details={"author": actor_of(principal)[1]},
        received_at=now,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    return note


async def add_reply(
    session: AsyncSession,
    principal: Principal,
    cid: uuid.UUID,
    now: datetime,
    request: ReplyRequest,
    senders: SenderDirectory,
    *,
    message_id_domain: str | None = None,
    settings: Settings,
) -> Message:
    """Store the owner's reply as a queued outbound message; it is sent after commit.

    It answers the customer's latest message: from the address they wrote to, to the
    address they wrote from, threaded under it on email (see `email_thread`): our own
    Message-ID (its domain `message_id_domain`, else the sending address's) also names the
    conversation's thread, so an answer that cites only it still finds the conversation.
    The reply meets the conversation's running response clocks (`router.service_levels`).
    """
    conversation = await load_visible(session, principal, cid, lock=True)
    _require_open(conversation)
    _require_owner(principal, conversation, "replies")
    inbound = await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if inbound is None:
        raise Conflict("the customer has written nothing to reply to")
    channel = Channel(conversation.channel)
    sender = senders.sender_for(channel, inbound.provider)
    if sender is None:
        raise ReplyChannelNotConfigured(f"no outbound sender is configured for {channel.value}")
    details: dict[str, object] = {"via": inbound.provider}
    reply_id = uuid.uuid4()
    subject = None
    if channel is Channel.EMAIL:
        thread = reply_thread(
            inbound.details.get("message_id"), inbound.details.get("references") or ()
        )
        own_id = outbound_message_id(reply_id, inbound.recipient or "", message_id_domain)
        details.update(
            message_id=own_id, in_reply_to=thread.in_reply_to, references=list(thread.references)
        )
        subject = reply_subject(request.subject or inbound.subject or conversation.subject)
        session.add(ConversationThread(thread_key=f"email:{own_id}", conversation_id=cid))
    reply = Message(
        id=reply_id,
        conversation_id=conversation.id,
        direction="outbound",
        kind="text",
        channel=conversation.channel,
        provider=sender.provider,
        sender=inbound.recipient,
        recipient=inbound.sender,
        author_agent_id=principal.agent_id,
        subject=subject,
        text=request.text,
        stripped_text=request.text,
        attachments=[],
        details=details,
        delivery_status=DeliveryStatus.QUEUED.value,
        received_at=now,
        created_at=now,
    )
    session.add(reply)
    # The customer is answered: the reply clock (the queue's reply time) stops.
    conversation.awaiting_reply_since = None
    await session.flush()
    await follow_slas(session, [conversation.id], settings, now)
    return reply
