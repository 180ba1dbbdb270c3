"""Conversations the company starts: an agent (or a supervisor's client) writes first.

The conversation is opened with its first outbound message queued, owned from that moment:
accepted by its agent (one slot of their capacity on the channel, taken with the same
conditional update as every other move), or waiting in its queue to be routed like an
arrival. Its thread key is the one the channel's inbound adapter will build for the
customer's answer, so the answer joins it:

* email: `email:<the Message-ID we send>`, since a reply's References start with it;
* SMS: `sms:<customer>|<our number>`; WhatsApp through Twilio: `whatsapp:<customer>|<our number>`;
* WhatsApp on the Cloud API: `whatsapp:<phone number id>|<wa_id>` (the number's bare digits).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.errors import Forbidden
from router.auth.service import Principal
from router.channels import Channel, IdentityKind
from router.console.moves import existing_agent, existing_queue, journal_for, take_slot
from router.console.schemas import E164, OutreachRequest
from router.console.service import ReplyChannelNotConfigured, actor_of
from router.console.written import queued_message
from router.conversations.history import Change
from router.errors import Conflict, InvalidPayload
from router.models import (
    Conversation,
    ConversationStatus,
    ConversationThread,
    Customer,
    CustomerIdentity,
    Message,
    OfferState,
    QueueAgent,
)
from router.outbound.email_thread import outbound_message_id
from router.outbound.ports import SenderDirectory
from router.settings import Settings

OUTREACH = "outreach"
# Which identities reach a customer on each channel, best first: WhatsApp accounts are
# phone numbers, so a known phone number is tried when no WhatsApp identity is stored.
_REACHED_BY = {
    Channel.EMAIL: (IdentityKind.EMAIL.value,),
    Channel.SMS: (IdentityKind.PHONE.value,),
    Channel.WHATSAPP: (IdentityKind.WHATSAPP.value, IdentityKind.PHONE.value),
}


def thread_key(channel: Channel, via: str, sender: str, recipient: str, mid: str) -> str:
    """The thread key the customer's answer will carry (see the module's docstring).

    `mid` is the message's own id: on email the Message-ID every email sender writes, in the
    stored form (`router.outbound.email_thread`).
    """
    if channel is Channel.EMAIL:
        return f"email:{mid}"
    if channel is Channel.WHATSAPP and via == "meta":
        return f"whatsapp:{sender}|{recipient.removeprefix('+')}"
    return f"{channel.value}:{recipient}|{sender}"


async def start_conversation(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    now: datetime,
    request: OutreachRequest,
    senders: SenderDirectory,
) -> tuple[Conversation, Message]:
    """Open a conversation on an outbound channel with its first message queued.

    An agent owns what they start. A supervisor names the agent who owns it, or only a
    queue, where it waits and is offered like an arrival. Refused (409) when the owner
    has no free slot on the channel, or an open conversation already holds the thread.
    """
    channel = request.channel
    via = request.provider or "meta" if channel is Channel.WHATSAPP else ""
    sender = senders.sender_for(channel, via)
    if sender is None:
        raise ReplyChannelNotConfigured(f"no outbound sender is configured for {channel.value}")
    agent_id, queue_id = await _owner(session, principal, request)
    customer_id, recipient = await _customer(session, request)
    message_id = uuid.uuid4()
    email_id = outbound_message_id(message_id, request.sender, settings.email_message_id_domain)
    key = thread_key(channel, via, request.sender, recipient, email_id)
    await _claim_thread(session, key)
    if agent_id is not None:
        agent = await existing_agent(session, agent_id)
        if not await take_slot(session, agent_id, channel):
            raise Conflict(f"agent {agent.handle} has no free capacity on {channel.value}")
    first = request.message
    conversation = Conversation(
        id=uuid.uuid4(),
        customer_id=customer_id,
        channel=channel.value,
        status=ConversationStatus.OPEN.value,
        queue_id=queue_id,
        agent_id=agent_id,
        offer_state=OfferState.ACCEPTED.value if agent_id else None,
        offered_at=now if agent_id else None,
        last_agent_id=agent_id,
        excluded_agents={},
        priority=0,
        waiting_since=now,
        subject=first.subject,
        last_message_at=now,
        created_at=now,
    )
    session.add(conversation)
    await session.flush()
    session.add(ConversationThread(thread_key=key, conversation_id=conversation.id))
    details: dict[str, object] = {"via": via or sender.provider, OUTREACH: True}
    if channel is Channel.EMAIL:
        details["message_id"] = email_id
    message = queued_message(
        first,
        message_id=message_id,
        conversation_id=conversation.id,
        channel=channel.value,
        provider=sender.provider,
        sender=request.sender,
        recipient=recipient,
        author_agent_id=principal.agent_id,
        subject=first.subject,
        attachments=[],
        details=details,
        now=now,
    )
    session.add(message)
    await _record(settings, session, principal, now, conversation, key)
    return conversation, message


async def _owner(
    session: AsyncSession, principal: Principal, request: OutreachRequest
) -> tuple[uuid.UUID | None, uuid.UUID]:
    """The agent who owns the new conversation (None: its queue), and its queue."""
    agent_id = request.agent_id
    if not principal.is_supervisor:
        if principal.agent_id is None:
            raise Forbidden("only a key or token bound to an agent starts conversations")
        if agent_id not in (None, principal.agent_id):
            raise Forbidden("an agent starts conversations for themselves only")
        agent_id = principal.agent_id
    elif agent_id is None and request.queue_id is None:
        agent_id = principal.agent_id
        if agent_id is None:
            raise InvalidPayload("agent_id: name the agent or the queue", field="agent_id")
    if request.queue_id is not None:
        await existing_queue(session, request.queue_id)
        return agent_id, request.queue_id
    assert agent_id is not None
    await existing_agent(session, agent_id)
    # Every open conversation belongs to a queue; the agent's own is the natural one.
    queue_id = await session.scalar(
        select(QueueAgent.queue_id)
        .where(QueueAgent.agent_id == agent_id)
        .order_by(QueueAgent.queue_id)
        .limit(1)
    )
    if queue_id is None:
        raise InvalidPayload("queue_id: the agent serves no queue; name one", field="queue_id")
    return agent_id, queue_id


async def _customer(session: AsyncSession, request: OutreachRequest) -> tuple[uuid.UUID, str]:
    """The customer and the address to write to: found by id, or by identity (or created)."""
    channel, wanted = request.channel, request.customer
    kinds = _REACHED_BY[channel]
    if wanted.identity is None:
        assert wanted.id is not None
        if await session.get(Customer, wanted.id) is None:
            raise InvalidPayload(f"customer.id: no customer {wanted.id}", field="customer.id")
        found = (
            await session.execute(
                select(CustomerIdentity.kind, CustomerIdentity.value).where(
                    CustomerIdentity.customer_id == wanted.id, CustomerIdentity.kind.in_(kinds)
                )
            )
        ).all()
        for kind in kinds:
            values = sorted(value for found_kind, value in found if found_kind == kind)
            if values:
                return wanted.id, values[0]
        raise InvalidPayload(
            f"customer.id: the customer has no {' or '.join(kinds)} identity to reach on"
            f" {channel.value}",
            field="customer.id",
        )
    identity = wanted.identity
    if identity.kind not in kinds:
        raise InvalidPayload(
            f"customer.identity.kind: {channel.value} reaches a customer by {' or '.join(kinds)}",
            field="customer.identity.kind",
        )
    value = identity.value.strip()
    if identity.kind == IdentityKind.EMAIL.value:
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value):
            raise InvalidPayload(
                "customer.identity.value: not an email address", field="customer.identity.value"
            )
    elif not re.fullmatch(E164, value):
        raise InvalidPayload(
            "customer.identity.value: not an E.164 number (+ and the country code)",
            field="customer.identity.value",
        )
    # Another request may create the same identity at once: the unique (kind, value) decides.
    customer = Customer(id=uuid.uuid4(), display_name=identity.display_name, attributes={})
    existing = await _identity_owner(session, identity.kind, value)
    if existing is not None:
        return existing, value
    session.add(customer)
    await session.flush()
    await session.execute(
        insert(CustomerIdentity)
        .values(
            id=uuid.uuid4(),
            customer_id=customer.id,
            kind=identity.kind,
            value=value,
            display_name=identity.display_name,
        )
        .on_conflict_do_nothing(index_elements=["kind", "value"])
    )
    owner = await _identity_owner(session, identity.kind, value)
    assert owner is not None
    return owner, value


async def _identity_owner(session: AsyncSession, kind: str, value: str) -> uuid.UUID | None:
    owner: uuid.UUID | None = await session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == kind, CustomerIdentity.value == value
        )
    )
    return owner


async def _claim_thread(session: AsyncSession, key: str) -> None:
    """Refuse a thread an open conversation holds: the agent should write there instead."""
    holder = await session.scalar(
        select(Conversation)
        .join(ConversationThread, ConversationThread.conversation_id == Conversation.id)
        .where(ConversationThread.thread_key == key)
        .with_for_update(of=Conversation)
    )
    if holder is None:
        return
    if holder.status == ConversationStatus.OPEN.value:
        raise Conflict(
            f"conversation {holder.id} with this customer on this line is open; reply there",
            conversation_id=str(holder.id),
        )
    # A resolved conversation lets the thread go: the customer's answer joins the new one.
    await session.execute(delete(ConversationThread).where(ConversationThread.thread_key == key))


async def _record(
    settings: Settings,
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    conversation: Conversation,
    key: str,
) -> None:
    actor, actor_id = actor_of(principal)
    journal = journal_for(settings, now)
    journal.record(
        conversation.id,
        Change.CREATED,
        OUTREACH,
        actor=actor,
        actor_id=actor_id,
        agent_id=conversation.agent_id,
        queue_id=conversation.queue_id,
        details={"thread": key, "channel": conversation.channel},
    )
    if conversation.agent_id is not None:
        journal.record(
            conversation.id,
            Change.ACCEPTED,
            OUTREACH,
            actor=actor,
            actor_id=actor_id,
            agent_id=conversation.agent_id,
            queue_id=conversation.queue_id,
        )
    else:
        journal.record(
            conversation.id,
            Change.QUEUED,
            OUTREACH,
            actor=actor,
            actor_id=actor_id,
            queue_id=conversation.queue_id,
        )
    await journal.flush(session)
