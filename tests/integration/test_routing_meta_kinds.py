"""Meta events on a real PostgreSQL: which kinds wake an agent, and comments kept apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.channels.meta import notification_events
from router.conversations import service
from router.conversations.history import Actor
from router.db import transaction
from router.models import Conversation, ConversationThread, Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import seed
from tests.adapters.meta_requests import (
    IG_ACCOUNT,
    LINE,
    encoded,
    from_customer,
    social,
    social_changes,
    wa_message,
    wa_value,
    whatsapp,
)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
WA_THREAD = f"whatsapp:{LINE}|16505551234"
DM_THREAD = f"instagram:{IG_ACCOUNT}|9001"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _apply(engine: RoutingEngine, document: dict[str, Any]) -> None:
    events = notification_events(encoded(document))
    assert events
    await engine.process(events)


async def _by_thread(sessions: async_sessionmaker[AsyncSession], key: str) -> Conversation:
    async with sessions() as session:
        found = await session.scalar(
            select(Conversation)
            .join(ConversationThread, ConversationThread.conversation_id == Conversation.id)
            .where(ConversationThread.thread_key == key)
        )
    assert found is not None, key
    return found


async def _kinds(sessions: async_sessionmaker[AsyncSession], cid: uuid.UUID) -> list[str]:
    async with sessions() as session:
        kinds = await session.scalars(
            select(Message.kind).where(Message.conversation_id == cid).order_by(Message.created_at)
        )
        return list(kinds.all())


async def test_notices_and_reactions_wake_no_agent_and_reopen_nothing(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    ana = await seed.add_agent(sessions, "ana", capacity={"whatsapp": 2}, queues=[default])
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)

    # A first contact that says nothing yet, then a reaction and a number change.
    await _apply(engine, whatsapp(wa_value(messages=[wa_message("request_welcome", 1)])))
    await _apply(
        engine,
        whatsapp(
            wa_value(
                messages=[
                    wa_message("reaction", 2, reaction={"message_id": "wamid.x", "emoji": "👍"}),
                    wa_message(
                        "system",
                        3,
                        system={"body": "changed number", "type": "user_changed_number"},
                    ),
                ]
            )
        ),
    )
    kept = await _by_thread(sessions, WA_THREAD)
    assert (kept.status, kept.agent_id, kept.queue_id) == ("resolved", None, None)
    assert await seed.history(sessions, kept.id) == ["created", "resolved"]
    assert sorted(await _kinds(sessions, kept.id)) == ["reaction", "system", "system"]

    # The customer's first words reopen it, with the notices in its history.
    clock.now += timedelta(minutes=5)
    await _apply(engine, whatsapp(wa_value(messages=[wa_message("text", 4, text={"body": "hi"})])))
    asked = await _by_thread(sessions, WA_THREAD)
    assert asked.id == kept.id
    assert (asked.status, asked.agent_id, asked.offer_state) == ("open", ana, "offered")
    history = await seed.history(sessions, kept.id)
    assert history[:3] == ["created", "resolved", "reopened"]
    assert history[-1] == "offered"

    # Once resolved, a reaction to the agent's answer stays in the history only.
    async with transaction(sessions) as session:
        await service.accept_offer(session, settings, kept.id, ana, clock())
    async with transaction(sessions) as session:
        await service.resolve(session, settings, kept.id, ana, clock(), actor=Actor.AGENT)
    before = await seed.history(sessions, kept.id)
    clock.now += timedelta(minutes=5)
    reaction = wa_message("reaction", 5, reaction={"message_id": "wamid.answer", "emoji": "🙏"})
    await _apply(engine, whatsapp(wa_value(messages=[reaction])))
    after = await _by_thread(sessions, WA_THREAD)
    assert (after.status, after.agent_id) == ("resolved", None)
    assert await seed.history(sessions, kept.id) == before
    assert (await _kinds(sessions, kept.id))[-1] == "reaction"


async def test_a_comment_opens_a_conversation_of_its_own(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    ana = await seed.add_agent(sessions, "ana", capacity={"instagram": 3}, queues=[default])
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    comment = {
        "from": {"id": "9001", "username": "ada.l"},
        "media": {"id": "17890001"},
        "id": "c1",
        "text": "Is this in stock?",
    }

    def dm(mid: str, text: str) -> dict[str, Any]:
        event = from_customer("9001", IG_ACCOUNT, message={"mid": mid, "text": text})
        return social("instagram", [event], IG_ACCOUNT)

    await _apply(engine, dm("ig.1", "hello"))
    clock.now += timedelta(minutes=1)
    await _apply(engine, social_changes("instagram", IG_ACCOUNT, ("comments", comment)))
    clock.now += timedelta(minutes=1)
    await _apply(engine, dm("ig.2", "about my order"))
    reply = {**comment, "id": "c2", "parent_id": "c1", "text": "blue please"}
    await _apply(engine, social_changes("instagram", IG_ACCOUNT, ("comments", reply)))

    private = await _by_thread(sessions, DM_THREAD)
    public = await _by_thread(sessions, f"instagram:{IG_ACCOUNT}|comment:17890001|c1")
    assert private.id != public.id
    assert private.customer_id == public.customer_id
    assert await _kinds(sessions, private.id) == ["text", "text"]
    assert await _kinds(sessions, public.id) == ["comment", "comment"]
    for conversation in (private, public):
        assert (conversation.status, conversation.agent_id) == ("open", ana)
        assert await seed.history(sessions, conversation.id) == ["created", "queued", "offered"]


async def test_a_first_private_message_after_a_comment_never_joins_it(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    ana = await seed.add_agent(sessions, "ana", capacity={"instagram": 3}, queues=[default])
    settings = Settings(database_url=database_url)  # type: ignore[arg-type]
    clock = Clock(NOW)
    engine = RoutingEngine(sessions, settings, clock=clock)
    comment = {"from": {"id": "9001"}, "media": {"id": "17890002"}, "id": "c9", "text": "Price?"}
    await _apply(engine, social_changes("instagram", IG_ACCOUNT, ("comments", comment)))
    public = await _by_thread(sessions, f"instagram:{IG_ACCOUNT}|comment:17890002|c9")
    assert (public.status, public.agent_id) == ("open", ana)

    # The customer's open comment conversation is their latest, well within the continuity
    # window: their first private message still opens a conversation of its own.
    clock.now += timedelta(minutes=1)
    event = from_customer("9001", IG_ACCOUNT, message={"mid": "ig.first", "text": "hi"})
    await _apply(engine, social("instagram", [event], IG_ACCOUNT))
    private = await _by_thread(sessions, DM_THREAD)
    assert private.id != public.id
    assert private.customer_id == public.customer_id
    assert await _kinds(sessions, public.id) == ["comment"]
    assert await _kinds(sessions, private.id) == ["text"]
