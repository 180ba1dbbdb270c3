"""Auto-replies and bounces in the routing engine on a real PostgreSQL: kept, never routed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.conversations import service
from router.db import transaction
from router.inbound.envelope import Automated, InboundMessage
from router.models import Conversation, Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories, seed

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _automated(
    kind: Automated,
    *,
    sender: str,
    thread: str,
    references: tuple[str, ...] = (),
    error: str | None = None,
) -> InboundMessage:
    message = factories.email("I am away until Monday.", sender=sender, thread=thread)
    return message.model_copy(
        update={
            "automated": kind,
            "references": references,
            "metadata": {"delivery_error": error} if error else {},
        }
    )


async def _conversations(sessions: async_sessionmaker[AsyncSession]) -> list[Conversation]:
    async with sessions() as session:
        return list((await session.scalars(select(Conversation))).all())


async def _messages(sessions: async_sessionmaker[AsyncSession]) -> list[Message]:
    async with sessions() as session:
        found = await session.scalars(select(Message).order_by(Message.created_at, Message.id))
        return list(found.all())


async def _answered_and_resolved(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> tuple[Conversation, uuid.UUID, uuid.UUID]:
    """Ada's conversation on thread q1, with a sent reply of hers, then resolved."""
    default = await seed.queue_id(sessions, "default")
    ada = await seed.add_agent(sessions, "ada", capacity={"email": 2}, queues=[default])
    await RoutingEngine(sessions, settings, clock=clock).process(
        [factories.email("Where is my invoice?", thread="q1@example.net")]
    )
    [conversation] = await _conversations(sessions)
    assert conversation.agent_id == ada
    reply = uuid.uuid4()
    async with transaction(sessions) as session:
        session.add(
            Message(
                id=reply,
                conversation_id=conversation.id,
                direction="outbound",
                kind="text",
                channel="email",
                provider="postmark",
                provider_message_id="pm-1",
                sender="support@shop.example",
                recipient="ada@example.com",
                text="Attached.",
                stripped_text="Attached.",
                attachments=[],
                details={},
                delivery_status="sent",
            )
        )
        await service.resolve(session, settings, conversation.id, ada, clock())
    return conversation, ada, reply


async def test_an_out_of_office_on_a_resolved_conversation_wakes_nobody(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    clock = Clock(NOW)
    conversation, ada, _ = await _answered_and_resolved(sessions, settings, clock)
    before = await seed.history(sessions, conversation.id)

    clock.now = NOW + timedelta(minutes=5)
    away = _automated(Automated.AUTO_REPLY, sender="ada@example.com", thread="q1@example.net")
    await RoutingEngine(sessions, settings, clock=clock).process([away])

    [still] = await _conversations(sessions)
    assert (still.status, still.agent_id, still.offer_state) == ("resolved", None, None)
    assert await seed.history(sessions, conversation.id) == before
    assert await seed.active(sessions, ada) == 0
    stored = (await _messages(sessions))[-1]
    assert (stored.conversation_id, stored.details["automated"]) == (conversation.id, "auto_reply")

    # The customer writing again themselves does reopen it.
    await RoutingEngine(sessions, settings, clock=clock).process(
        [factories.email("One more thing", thread="q1@example.net")]
    )
    [reopened] = await _conversations(sessions)
    assert reopened.status == "open"
    assert reopened.agent_id == ada


async def test_an_auto_reply_on_a_new_thread_is_kept_and_offered_to_nobody(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    default = await seed.queue_id(sessions, "default")
    ada = await seed.add_agent(sessions, "ada", capacity={"email": 2}, queues=[default])
    away = _automated(Automated.AUTO_REPLY, sender="newsletter@example.org", thread="n1@x.org")
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([away])

    [conversation] = await _conversations(sessions)
    assert (conversation.status, conversation.agent_id, conversation.queue_id) == (
        "resolved",
        None,
        None,
    )
    assert await seed.history(sessions, conversation.id) == ["created", "resolved"]
    assert await seed.active(sessions, ada) == 0
    [message] = await _messages(sessions)
    assert message.details["automated"] == "auto_reply"


async def test_a_bounce_of_a_sent_reply_marks_it_failed(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    clock = Clock(NOW)
    conversation, _, reply = await _answered_and_resolved(sessions, settings, clock)
    before = await seed.history(sessions, conversation.id)

    bounce = _automated(
        Automated.BOUNCE,
        sender="mailer-daemon@mx.example.net",
        thread=f"{reply}@shop.example",  # the reply's own id: a thread nobody knew
        references=(f"{reply}@shop.example",),
        error="5.1.1 smtp; 550 5.1.1 user unknown",
    )
    await RoutingEngine(sessions, settings, clock=clock).process([bounce])

    messages = {message.id: message for message in await _messages(sessions)}
    failed = messages[reply]
    assert failed.delivery_status == "failed"
    assert failed.delivery_error == "5.1.1 smtp; 550 5.1.1 user unknown"
    [kept] = [m for m in messages.values() if m.details.get("automated") == "bounce"]
    assert kept.conversation_id == conversation.id
    [only] = await _conversations(sessions)
    assert only.status == "resolved"
    assert await seed.history(sessions, conversation.id) == before


async def test_a_bounce_of_nothing_we_sent_is_a_system_record_only(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    bounce = _automated(
        Automated.BOUNCE,
        sender="mailer-daemon@mx.example.net",
        thread="someone-else@example.org",
        references=(f"{uuid.uuid4()}@shop.example", "someone-else@example.org"),
    )
    await RoutingEngine(sessions, settings, clock=Clock(NOW)).process([bounce])
    [conversation] = await _conversations(sessions)
    assert conversation.status == "resolved"
    assert conversation.agent_id is None
    assert await seed.history(sessions, conversation.id) == ["created", "resolved"]
