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

from router.attachments import outgoing
from router.auth.errors import Forbidden
from router.auth.service import Principal
from router.channels import Channel
from router.chat_sites.service import reply_url_for
from router.console.comments import comment_reply
from router.console.moves import journal_for, redirect, take_slot
from router.console.queries import load_visible
from router.console.schemas import ReplyRequest, TransferRequest
from router.console.windows import last_customer_message_at, require_open_window
from router.console.written import queued_message
from router.conversations import service as conversations
from router.conversations.history import Actor, Change
from router.errors import Conflict, InvalidPayload, NotFound, ProblemError
from router.feedback import surveys
from router.inbound.envelope import DeliveryStatus
from router.models import (
    Conversation,
    ConversationStatus,
    ConversationThread,
    Message,
    OfferState,
)
from router.outbound.email_thread import outbound_message_id, reply_subject, reply_thread
from router.outbound.ports import OutboundSender, SenderDirectory
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


def require_may_send(principal: Principal, conversation: Conversation, action: str) -> None:
    """The conversation is open and the caller may send on it (its owner, or a supervisor)."""
    _require_open(conversation)
    _require_owner(principal, conversation, action)


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
    survey_senders: SenderDirectory | None = None,
) -> tuple[Conversation, uuid.UUID | None]:
    """The owner (or a supervisor) closes the conversation, freeing the owner's slot.

    With `survey_senders` the customer gets the survey its queue and channel call for: the
    id of its message is returned when it is due at once, to be sent after commit.
    """
    conversation = await load_visible(session, principal, cid, lock=True)
    _require_open(conversation)
    _require_owner(principal, conversation, "resolves it")
    actor, actor_id = actor_of(principal)
    owner = conversation.agent_id if conversation.offer_state == OfferState.ACCEPTED else None
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
    if survey_senders is None:
        return resolved, None
    survey = await surveys.survey_after_resolve(
        session, settings, survey_senders, resolved, owner, now
    )
    return resolved, survey


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
    channel = Channel(conversation.channel)
    if request.template is not None and channel is not Channel.WHATSAPP:
        raise InvalidPayload("template: templates are sent on WhatsApp only", field="template")
    if channel is Channel.WHATSAPP and request.template is None:
        require_open_window(await last_customer_message_at(session, conversation.id), now)
    inbound = await _latest(session, conversation.id, "inbound")
    # A conversation the router started has no customer message yet: it goes on from its
    # first outbound message, between the same two addresses.
    opening = inbound or await _latest(session, conversation.id, "outbound")
    if opening is None:
        raise Conflict("the customer has written nothing to reply to")
    if inbound is not None:
        ours, theirs, via = inbound.recipient, inbound.sender, inbound.provider
    else:
        ours, theirs = opening.sender, opening.recipient
        via = str(opening.details.get("via") or opening.provider)
    files = await outgoing.files_for_reply(session, conversation, request.attachment_ids)
    sender = await _sender_for(session, senders, channel, via, ours)
    details: dict[str, object] = {"via": via}
    reply_id = uuid.uuid4()
    if channel is Channel.CHAT:
        details["session_id"] = opening.details.get("session_id")
    subject = None
    if channel is Channel.EMAIL:
        if inbound is not None:
            thread = reply_thread(
                inbound.details.get("message_id"), inbound.details.get("references") or ()
            )
            details.update(in_reply_to=thread.in_reply_to, references=list(thread.references))
            subject = reply_subject(request.subject or inbound.subject or conversation.subject)
        else:  # a conversation we started keeps the subject the agent wrote
            subject = request.subject or conversation.subject or opening.subject
        own_id = outbound_message_id(reply_id, ours or "", message_id_domain)
        details["message_id"] = own_id
        session.add(ConversationThread(thread_key=f"email:{own_id}", conversation_id=cid))
    details.update(await comment_reply(session, inbound, request.visibility, now))
    reply = queued_message(
        request,
        message_id=reply_id,
        conversation_id=conversation.id,
        channel=conversation.channel,
        provider=sender.provider,
        sender=ours,
        recipient=theirs,
        author_agent_id=principal.agent_id,
        subject=subject,
        attachments=outgoing.metadata(files),
        details=details,
        now=now,
    )
    session.add(reply)
    # The customer is answered: the reply clock (the queue's reply time) stops.
    conversation.awaiting_reply_since = None
    await session.flush()
    await outgoing.attach(session, reply.id, files)
    await follow_slas(session, [conversation.id], settings, now)
    return reply


async def _sender_for(
    session: AsyncSession,
    senders: SenderDirectory,
    channel: Channel,
    via: str,
    our_address: str | None,
) -> OutboundSender:
    sender = senders.sender_for(channel, via)
    if sender is None:
        raise ReplyChannelNotConfigured(f"no outbound sender is configured for {channel.value}")
    if channel is Channel.CHAT:
        # Refused now, not queued to fail later: the site must say where its replies go.
        await reply_url_for(session, our_address or "")
    return sender


async def retry_reply(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    cid: uuid.UUID,
    message_id: uuid.UUID,
    now: datetime,
    senders: SenderDirectory,
) -> Message:
    """Queue a failed reply again (owner or supervisor); it is sent again after commit."""
    conversation = await load_visible(session, principal, cid, lock=True)
    _require_open(conversation)
    _require_owner(principal, conversation, "retries its replies")
    reply = await session.scalar(
        select(Message)
        .where(
            Message.id == message_id,
            Message.conversation_id == conversation.id,
            Message.direction == "outbound",
        )
        .with_for_update()
    )
    if reply is None:
        raise NotFound(f"conversation {cid} has no reply {message_id}")
    if reply.delivery_status != DeliveryStatus.FAILED.value:
        raise Conflict(f"only a failed reply is retried; this one is {reply.delivery_status}")
    await _sender_for(
        session, senders, Channel(reply.channel), str(reply.details.get("via") or ""), reply.sender
    )
    previous = reply.delivery_error
    reply.delivery_status = DeliveryStatus.QUEUED.value
    reply.delivery_error = None
    reply.delivery_updated_at = None
    # The row is locked (load_visible), so this count cannot race a failure being recorded.
    conversation.failed_replies = max(conversation.failed_replies - 1, 0)
    actor, actor_id = actor_of(principal)
    journal = journal_for(settings, now)
    journal.record(
        conversation.id,
        Change.REPLY_RETRIED,
        "reply queued again",
        actor=actor,
        actor_id=actor_id,
        details={"message_id": str(reply.id), "previous_error": previous},
    )
    await journal.flush(session)
    await session.flush()
    return reply


async def _latest(session: AsyncSession, cid: uuid.UUID, direction: str) -> Message | None:
    found: Message | None = await session.scalar(
        select(Message)
        .where(Message.conversation_id == cid, Message.direction == direction)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    return found
