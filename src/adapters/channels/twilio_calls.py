"""Twilio Voice callbacks of a live call: the caller waits, an agent's phone rings, answers.

The incoming-call webhook publishes the call and answers "please hold" with a `<Redirect>`
here; the routing engine (consumer or inline transport) meanwhile makes the offer. Then:

- `/webhooks/twilio/voice/wait`: looks up the offer the engine made for the call's
  conversation. An agent holds it: `<Dial>` their endpoint for their ring time. Not routed
  yet: `<Pause>` and ask again (at most `MAX_POLLS` times, then the voicemail). Nobody
  free: the queue's wait message and music, then `<Record>` a voicemail; the conversation
  waits in its queue for a callback.
- `/webhooks/twilio/voice/answered`: the dialled noun's status callback for `answered`:
  the agent picked up, the offer is accepted.
- `/webhooks/twilio/voice/dialed`: `<Dial>`'s action, when the ring or the talk ended:
  `DialCallStatus` completed/answered accepts (if not already), anything else takes the
  offer back and offers the next agent; the caller is sent to wait again.

Each URL carries the conversation, the agent and the offer it is about (signed with the URL);
a request about an offer that moved on (Twilio's retry, a late callback) changes nothing and
gets the same answer as the first time.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.channels.twilio import (
    PROBLEMS,
    PROVIDER,
    SIGNED_FORM,
    TWIML_OK,
    Form,
    required,
    signed_form,
    twiml,
)
from adapters.channels.twiml import (
    hangup_twiml,
    hold_twiml,
    ring_twiml,
    voicemail_twiml,
    wait_again_twiml,
)
from adapters.channels.webhook import public_base_url, router_state
from router.db import in_transaction
from router.errors import InvalidPayload
from router.inbound.envelope import utcnow
from router.voice import service
from router.voice.service import CallStep, Hold, Over, Ring, Voicemail

# How often a caller is put on hold waiting for the engine's decision (two seconds each).
MAX_POLLS = 15
T = TypeVar("T")

router = APIRouter(tags=["webhooks"])


async def _in_transaction(request: Request, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return await in_transaction(router_state(request).sessions, work)


def _query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidPayload(f"{name}: missing from the callback URL", field=name)
    return value


def _uuid(request: Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(_query(request, name))
    except ValueError:
        raise InvalidPayload(f"{name}: not a UUID", field=name) from None


def _offer(request: Request) -> int:
    value = _query(request, "offer")
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise InvalidPayload("offer: not an offer number", field="offer")
    return int(value)


def _offered(request: Request) -> tuple[uuid.UUID, uuid.UUID, int]:
    """The conversation, the agent and the offer the callback's URL is about."""
    return _uuid(request, "conversation"), _uuid(request, "agent"), _offer(request)


def _polls(request: Request) -> int:
    value = request.query_params.get("poll", "0")
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise InvalidPayload("poll: not a count", field="poll")
    return int(value)


def _thread(request: Request, form: Form) -> tuple[str, str]:
    """The caller and our number: Twilio's own values, else our URL's (the wait's own)."""
    caller = form.get("From") or _query(request, "From")
    line = form.get("To") or _query(request, "To")
    return caller, line


def _answer(request: Request, form: Form, step: CallStep, polls: int) -> Response:
    base = public_base_url(request)
    caller, line = _thread(request, form)
    if isinstance(step, Ring):
        return twiml(ring_twiml(base, caller, line, step))
    if isinstance(step, Voicemail):
        return twiml(voicemail_twiml(base, caller, line, step))
    if isinstance(step, Hold):
        return twiml(hold_twiml(base, caller, line, polls + 1))
    return twiml(hangup_twiml())


@router.post(
    "/webhooks/twilio/voice/wait",
    operation_id="webhook_twilio_voice_wait",
    summary="A caller waits: ring the offered agent, hold, or offer the voicemail",
    response_class=Response,
    responses={
        200: {
            "description": "<Dial>, <Pause>+<Redirect> or voicemail TwiML",
            "content": {"text/xml": {}},
        },
        **PROBLEMS,
    },
    openapi_extra=SIGNED_FORM,
)
async def receive_wait(request: Request) -> Response:
    """Answer the waiting caller with what the engine decided for their conversation."""
    form = await signed_form(request)
    call_sid = required(form, "CallSid")
    polls = _polls(request)
    _thread(request, form)  # refused (422) before any change when the URL names no thread
    now = utcnow()

    step = await _in_transaction(
        request,
        lambda session: service.next_step(
            session, PROVIDER, call_sid, now, give_up=polls >= MAX_POLLS
        ),
    )
    return _answer(request, form, step, polls)


@router.post(
    "/webhooks/twilio/voice/answered",
    operation_id="webhook_twilio_voice_answered",
    summary="The dialled agent picked up: the offer is accepted",
    response_class=Response,
    responses={200: TWIML_OK, **PROBLEMS},
    openapi_extra=SIGNED_FORM,
)
async def receive_answered(request: Request) -> Response:
    """Accept the offer of the agent who answered; a stale or repeated answer changes nothing."""
    form = await signed_form(request)
    # The dialled leg's callback: the caller's call is its parent.
    call_sid = form.get("ParentCallSid") or required(form, "CallSid")
    conversation, agent, offer = _offered(request)
    settings = router_state(request).settings
    now = utcnow()

    await _in_transaction(
        request,
        lambda session: service.ring_answered(
            session, settings, PROVIDER, call_sid, conversation, agent, offer, now
        ),
    )
    return twiml()


@router.post(
    "/webhooks/twilio/voice/dialed",
    operation_id="webhook_twilio_voice_dialed",
    summary="The ring of an agent ended: accept the offer, or offer the next agent",
    response_class=Response,
    responses={
        200: {"description": "<Hangup/> or <Redirect> to wait TwiML", "content": {"text/xml": {}}},
        **PROBLEMS,
    },
    openapi_extra=SIGNED_FORM,
)
async def receive_dialed(request: Request) -> Response:
    """Apply the ring's outcome (`DialCallStatus`) to the offer it named."""
    form = await signed_form(request)
    call_sid = required(form, "CallSid")
    status = required(form, "DialCallStatus", longest=32)
    talked = form.get("DialCallDuration", "")
    talk_seconds = (
        int(talked) if talked.isascii() and talked.isdigit() and len(talked) < 10 else None
    )
    conversation, agent, offer = _offered(request)
    _thread(request, form)
    settings = router_state(request).settings
    now = utcnow()

    step = await _in_transaction(
        request,
        lambda session: service.ring_outcome(
            session,
            settings,
            PROVIDER,
            call_sid,
            conversation,
            agent,
            offer,
            status,
            talk_seconds,
            now,
        ),
    )
    if isinstance(step, Over):
        return twiml(hangup_twiml())
    # The caller waits again: the next look finds the next agent's offer, or nobody.
    caller, line = _thread(request, form)
    return twiml(wait_again_twiml(public_base_url(request), caller, line))
