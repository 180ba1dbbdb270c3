"""A call and its status callbacks on a real PostgreSQL: one message, its furthest status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.channels.twilio import sms_message
from adapters.channels.twilio_voice import call_status, incoming_call
from router.console.schemas import MessageOut
from router.inbound.envelope import CallUpdate, InboundMessage
from router.models import ConversationEvent, Message
from router.routing.engine import RoutingEngine
from router.settings import Settings

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CALLER, LINE = "+447911123456", "+14155550100"


def _form(**fields: str) -> dict[str, str]:
    return {
        "AccountSid": "ACa1b2c3d4e5f60718293a4b5c6d7e8f90",
        "CallSid": "CA00000000000000000000000000000001",
        "From": CALLER,
        "To": LINE,
        "Direction": "inbound",
        "CallStatus": "ringing",
        **fields,
    }


def _update(status: str, **fields: str) -> CallUpdate:
    update = call_status(_form(CallStatus=status, **fields))
    assert update is not None
    return update


def _engine(sessions: async_sessionmaker[AsyncSession], database_url: str) -> RoutingEngine:
    settings = Settings(database_url=database_url)  # type: ignore[call-arg]
    return RoutingEngine(sessions, settings, clock=lambda: NOW)


async def _calls(sessions: async_sessionmaker[AsyncSession]) -> list[Message]:
    async with sessions() as session:
        return list((await session.scalars(select(Message).where(Message.kind == "call"))).all())


async def _outcomes(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.kind == "call_ended")
            .order_by(ConversationEvent.id)
        )
        return [{"reason": row.reason, **row.details} for row in rows]


async def test_status_callbacks_update_the_one_call_and_never_go_back(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    await engine.process([incoming_call(_form())])
    [ringing] = await _calls(sessions)
    assert (ringing.call_status, ringing.call_duration_seconds) == ("ringing", None)

    await engine.process([_update("in-progress")])
    await engine.process([_update("completed", CallDuration="47")])
    await engine.process([_update("completed", CallDuration="47")])  # redelivered
    await engine.process([_update("ringing"), _update("in-progress")])  # late and out of order

    [call] = await _calls(sessions)
    assert call.id == ringing.id
    assert (call.call_status, call.call_duration_seconds) == ("completed", 47)
    assert call.text == ""
    shown = MessageOut.model_validate(call)
    assert (shown.kind, shown.call_status, shown.call_duration_seconds) == ("call", "completed", 47)
    [outcome] = await _outcomes(sessions)
    assert outcome["reason"] == "call completed after 47 s"
    assert (outcome["status"], outcome["duration_seconds"]) == ("completed", 47)
    assert outcome["message_id"] == str(call.id)


async def test_a_call_and_its_statuses_in_one_batch_in_any_order_are_one_message(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    await engine.process(
        [
            incoming_call(_form()),
            _update("busy"),
            _update("in-progress"),
            _update("ringing"),
        ]
    )
    [call] = await _calls(sessions)
    assert (call.call_status, call.call_duration_seconds) == ("busy", None)
    # A duration arriving later for the same outcome completes it; nothing else moves.
    await engine.process([_update("busy", CallDuration="0"), _update("completed")])
    [call] = await _calls(sessions)
    assert (call.call_status, call.call_duration_seconds) == ("busy", 0)
    assert [o["status"] for o in await _outcomes(sessions)] == ["busy"]


async def test_the_outcome_of_a_call_we_placed_is_stored_without_its_first_event(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    placed = _update("no-answer", From=LINE, To=CALLER, Direction="outbound-api")
    await engine.process([placed])
    await engine.process([placed])
    [call] = await _calls(sessions)
    assert (call.direction, call.sender, call.call_status) == ("outbound", CALLER, "no-answer")
    assert [o["status"] for o in await _outcomes(sessions)] == ["no-answer"]


async def test_an_sms_known_only_by_its_sms_sid_is_stored_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    engine = _engine(sessions, database_url)
    form = {"SmsSid": "SM00000000000000000000000000legacy", "From": "+5215512345678", "To": LINE}
    first: InboundMessage = sms_message(form)
    await engine.process([first])
    await engine.process([sms_message(form)])
    async with sessions() as session:
        stored = (await session.scalars(select(Message))).all()
    assert [(m.provider_message_id, m.sender) for m in stored] == [
        ("SM00000000000000000000000000legacy", "+5215512345678")
    ]
    assert stored[0].details["sender_normalised"] is False
    assert stored[0].details["sender_as_signed"] == "+5215512345678"
