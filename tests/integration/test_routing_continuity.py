"""Continuity on a real PostgreSQL: which new threads join an open conversation, and the
returning customer's new conversation offered first to the agent who last owned theirs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel, IdentityKind
from router.conversations import service
from router.conversations.history import Actor
from router.db import transaction
from router.inbound.envelope import CustomerIdentity, InboundMessage
from router.models import Agent, AgentCapacity, Conversation, ConversationEvent, ConversationThread
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import seed

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
LONG_IDLE = datetime(2026, 1, 1, tzinfo=UTC)
PHONE = "+14155550199"
EMAIL = "ada.customer@example.com"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _message(
    channel: Channel,
    thread: str,
    *,
    kind: IdentityKind = IdentityKind.PHONE,
    value: str = PHONE,
    text: str = "about my order 4521",
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        provider="twilio" if channel in (Channel.SMS, Channel.VOICE) else "test",
        provider_message_id=f"m-{uuid.uuid4().hex}",
        conversation_key=f"{channel.value}:{thread}",
        customer=CustomerIdentity(kind=kind, value=value),
        recipient="+14155550100",
        text=text,
        stripped_text=text,
    )


def _chat(session: str) -> InboundMessage:
    # A chat from a visitor who logged in with their email: the same customer as their mail.
    return _message(Channel.CHAT, session, kind=IdentityKind.EMAIL, value=EMAIL)


def _email(thread: str) -> InboundMessage:
    return _message(Channel.EMAIL, thread, kind=IdentityKind.EMAIL, value=EMAIL)


async def _conversation_of(
    sessions: async_sessionmaker[AsyncSession], message: InboundMessage
) -> Conversation:
    async with sessions() as session:
        found = await session.scalar(
            select(Conversation)
            .join(ConversationThread, ConversationThread.conversation_id == Conversation.id)
            .where(ConversationThread.thread_key == message.conversation_key)
        )
    assert found is not None, message.conversation_key
    return found


async def _offer_details(
    sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID
) -> dict[str, Any]:
    """The details of the conversation's latest offer."""
    async with sessions() as session:
        details = await session.scalar(
            select(ConversationEvent.details)
            .where(ConversationEvent.conversation_id == cid, ConversationEvent.kind == "offered")
            .order_by(ConversationEvent.id.desc())
            .limit(1)
        )
    assert details is not None
    return dict(details)


@dataclass
class Desk:
    """The routing engine on a test clock, and the agents' actions at that clock."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    clock: Clock
    engine: RoutingEngine

    async def accept(self, cid: uuid.UUID, agent: uuid.UUID) -> None:
        async with transaction(self.sessions) as session:
            await service.accept_offer(session, self.settings, cid, agent, self.clock())

    async def resolve(self, cid: uuid.UUID, agent: uuid.UUID) -> None:
        async with transaction(self.sessions) as session:
            await service.resolve(
                session, self.settings, cid, agent, self.clock(), actor=Actor.AGENT
            )

    async def owned_by(
        self, message: InboundMessage, agent: uuid.UUID, *, resolve: bool
    ) -> uuid.UUID:
        """Route the message while only `agent` is online; they accept it (and resolve it)."""
        async with transaction(self.sessions) as session:
            await session.execute(update(Agent).where(Agent.id != agent).values(presence="offline"))
        await self.engine.process([message])
        conversation = await _conversation_of(self.sessions, message)
        assert conversation.agent_id == agent
        await self.accept(conversation.id, agent)
        if resolve:
            await self.resolve(conversation.id, agent)
        async with transaction(self.sessions) as session:
            await session.execute(update(Agent).values(presence="online"))
        return conversation.id


def _desk(database_url: str, sessions: async_sessionmaker[AsyncSession], **overrides: Any) -> Desk:
    settings = Settings(database_url=database_url, **overrides)
    clock = Clock()
    return Desk(sessions, settings, clock, RoutingEngine(sessions, settings, clock=clock))


async def _team(
    sessions: async_sessionmaker[AsyncSession], capacity: dict[str, int]
) -> tuple[uuid.UUID, uuid.UUID]:
    """Ada, then Bob: Bob has been idle far longer, so without stickiness he is chosen."""
    default = await seed.queue_id(sessions, "default")
    ada = await seed.add_agent(sessions, "ada", capacity=capacity, queues=[default])
    bob = await seed.add_agent(
        sessions, "bob", capacity=capacity, queues=[default], idle_since=LONG_IDLE
    )
    return ada, bob


async def test_a_new_chat_session_goes_first_to_the_last_owner_within_the_window_only(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ada, bob = await _team(sessions, {"chat": 2})
    desk = _desk(database_url, sessions, sticky_owner_hours=24)
    first = await desk.owned_by(_chat("s1"), ada, resolve=True)

    desk.clock.now += timedelta(hours=23)
    second = _chat("s2")
    await desk.engine.process([second])
    conversation = await _conversation_of(sessions, second)
    assert conversation.id != first
    assert conversation.agent_id == ada
    details = await _offer_details(sessions, conversation.id)
    assert details["reason"] == "sticky previous owner"
    assert details["previous_owner"] == {
        "agent_id": str(ada),
        "conversation_id": str(first),
        "offered": True,
    }
    await desk.accept(conversation.id, ada)
    await desk.resolve(conversation.id, ada)

    # Past the window the customer is anyone's: Bob, idle longest, gets the next session.
    desk.clock.now += timedelta(hours=25)
    third = _chat("s3")
    await desk.engine.process([third])
    later = await _conversation_of(sessions, third)
    assert later.agent_id == bob
    details = await _offer_details(sessions, later.id)
    assert details["reason"] == "least loaded"
    assert "previous_owner" not in details


async def test_a_new_email_thread_opens_its_own_conversation_offered_first_to_the_owner(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ada, _ = await _team(sessions, {"email": 3})
    desk = _desk(database_url, sessions)
    first = await desk.owned_by(_email("invoice"), ada, resolve=False)

    desk.clock.now += timedelta(minutes=5)
    other = _email("delivery")
    await desk.engine.process([other, _email("invoice")])
    conversation = await _conversation_of(sessions, other)
    assert conversation.id != first
    # Ada holds one email already and Bob none, yet she knows this customer.
    assert conversation.agent_id == ada
    assert (await _offer_details(sessions, conversation.id))["previous_owner"] == {
        "agent_id": str(ada),
        "conversation_id": str(first),
        "offered": True,
    }
    # A reply on the first thread stays where it was, and routes nothing.
    assert (await _conversation_of(sessions, _email("invoice"))).id == first
    assert await seed.history(sessions, first) == ["created", "queued", "offered", "accepted"]


async def test_a_message_on_another_channel_goes_first_to_the_last_owner(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ada, _ = await _team(sessions, {"email": 2, "chat": 2, "sms": 2, "voice": 2})
    desk = _desk(database_url, sessions)
    mail = await desk.owned_by(_email("invoice"), ada, resolve=False)

    desk.clock.now += timedelta(minutes=1)
    chat = _chat("s1")
    await desk.engine.process([chat])
    conversation = await _conversation_of(sessions, chat)
    # Chat joins only chat: its own conversation, with the owner of the customer's email.
    assert conversation.id != mail
    assert conversation.channel == "chat"
    assert conversation.agent_id == ada

    # A caller whose SMS conversation Ada resolved two days ago: her again, on the phone.
    sms = await desk.owned_by(_message(Channel.SMS, "a"), ada, resolve=True)
    desk.clock.now += timedelta(days=2)
    call = _message(Channel.VOICE, "a")
    await desk.engine.process([call])
    voice = await _conversation_of(sessions, call)
    assert voice.id != sms
    assert voice.agent_id == ada
    previous = (await _offer_details(sessions, voice.id))["previous_owner"]
    assert previous["conversation_id"] == str(sms)


async def test_a_last_owner_full_or_offline_is_passed_over_and_the_history_says_why(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ada, bob = await _team(sessions, {"email": 1, "chat": 1})
    desk = _desk(database_url, sessions)
    mail = await desk.owned_by(_email("invoice"), ada, resolve=False)
    # Another customer's chat fills Ada's only chat slot.
    async with transaction(sessions) as session:
        await session.execute(
            update(AgentCapacity)
            .where(AgentCapacity.agent_id == ada, AgentCapacity.channel == "chat")
            .values(active=1)
        )

    desk.clock.now += timedelta(minutes=1)
    full = _chat("s1")
    await desk.engine.process([full])
    chat = await _conversation_of(sessions, full)
    assert chat.agent_id == bob
    details = await _offer_details(sessions, chat.id)
    assert details["reason"] == "least loaded"
    assert details["previous_owner"] == {
        "agent_id": str(ada),
        "conversation_id": str(mail),
        "offered": False,
        "why_not": "full on chat (1/1)",
    }
    await desk.accept(chat.id, bob)
    await desk.resolve(chat.id, bob)

    # Bob owned the customer last and has gone offline: Ada (room again) gets the next
    # session, and the history says why Bob did not.
    async with transaction(sessions) as session:
        await session.execute(update(Agent).where(Agent.id == bob).values(presence="offline"))
        await session.execute(update(AgentCapacity).values(active=0))
    desk.clock.now += timedelta(minutes=1)
    offline = _chat("s2")
    await desk.engine.process([offline])
    latest = await _conversation_of(sessions, offline)
    assert latest.agent_id == ada
    assert (await _offer_details(sessions, latest.id))["previous_owner"] == {
        "agent_id": str(bob),
        "conversation_id": str(chat.id),
        "offered": False,
        "why_not": "not online",
    }


async def test_with_sticky_owners_off_a_returning_customer_is_routed_like_anyone(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ada, bob = await _team(sessions, {"chat": 2})
    desk = _desk(database_url, sessions, sticky_owner_hours=0)
    await desk.owned_by(_chat("s1"), ada, resolve=True)
    desk.clock.now += timedelta(minutes=1)
    second = _chat("s2")
    await desk.engine.process([second])
    conversation = await _conversation_of(sessions, second)
    assert conversation.agent_id == bob
    assert "previous_owner" not in await _offer_details(sessions, conversation.id)


# Two messages of one customer on two threads of the same channel, a minute apart.
JOINS_BY_DEFAULT = {
    Channel.CHAT: True,
    Channel.WHATSAPP: True,
    Channel.MESSENGER: True,
    Channel.INSTAGRAM: True,
    Channel.SMS: True,
    Channel.VOICE: True,
    Channel.EMAIL: False,
}


@pytest.mark.parametrize("channel", list(Channel))
async def test_a_new_thread_joins_the_open_conversation_as_its_channel_says_by_default(
    database_url: str, sessions: async_sessionmaker[AsyncSession], channel: Channel
) -> None:
    desk = _desk(database_url, sessions)
    clock, engine = desk.clock, desk.engine
    first, second = _message(channel, "one"), _message(channel, "two")
    await engine.process([first])
    clock.now += timedelta(minutes=1)
    await engine.process([second])
    joined = (await _conversation_of(sessions, first)).id == (
        await _conversation_of(sessions, second)
    ).id
    assert joined is JOINS_BY_DEFAULT[channel]


async def test_by_default_a_call_joins_the_open_sms_but_an_sms_never_joins_a_call(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk = _desk(database_url, sessions)
    clock, engine = desk.clock, desk.engine
    sms, call = _message(Channel.SMS, "a"), _message(Channel.VOICE, "a")
    await engine.process([sms])
    clock.now += timedelta(minutes=1)
    await engine.process([call])
    assert (await _conversation_of(sessions, call)).id == (await _conversation_of(sessions, sms)).id

    other_caller = "+14155550123"
    call = _message(Channel.VOICE, "b", value=other_caller)
    sms = _message(Channel.SMS, "b", value=other_caller)
    await engine.process([call])
    clock.now += timedelta(minutes=1)
    await engine.process([sms])
    assert (await _conversation_of(sessions, call)).id != (await _conversation_of(sessions, sms)).id

    # Past the continuity window nothing joins, whatever the rule.
    clock.now += timedelta(days=2)
    late = _message(Channel.SMS, "c", value=other_caller)
    await engine.process([late])
    assert (await _conversation_of(sessions, late)).id != (await _conversation_of(sessions, sms)).id


async def test_the_join_rules_follow_the_setting(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    desk = _desk(
        database_url,
        sessions,
        join_open_conversation="email=same-channel, sms=any-channel, voice=never",
    )
    clock, engine, settings = desk.clock, desk.engine, desk.settings
    assert settings.join_open_conversation[Channel.CHAT] == "same-channel"  # kept default
    first, second = _email("one"), _email("two")
    call = _message(Channel.VOICE, "a")
    sms_first = _message(Channel.SMS, "a")
    await engine.process([first, call])
    clock.now += timedelta(minutes=1)
    await engine.process([second, sms_first])
    assert (await _conversation_of(sessions, first)).id == (
        await _conversation_of(sessions, second)
    ).id
    # SMS joins any channel: the open call's conversation.
    assert (await _conversation_of(sessions, sms_first)).id == (
        await _conversation_of(sessions, call)
    ).id
    # A call never joins: the caller's open conversation stays where it is.
    clock.now += timedelta(minutes=1)
    again = _message(Channel.VOICE, "b")
    await engine.process([again])
    assert (await _conversation_of(sessions, again)).id != (
        await _conversation_of(sessions, call)
    ).id
