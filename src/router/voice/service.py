"""What a live call does next, and what an agent's ring outcome does to the offer.

The routing engine makes the offer (it applies the call like any inbound event); the call's
callbacks then ask here, each in one transaction:

- `next_step`: the caller waits; is there an offer to ring, or nobody free?
- `ring_answered`: the agent picked up: the offer is accepted, the agent is on a call;
- `ring_outcome`: the ring ended: answered (accepted, if the answer was not heard yet), or
  no-answer / busy / failed / canceled, which takes the offer back exactly as a lapse or a
  decline does (the agent is excluded for a while, their slot is freed) and offers the
  conversation to the next eligible agent on a locked board, as the expiry sweep does.

Every step locks the conversation first, then the call message, then capacity rows (the
order of `router.routing.board`), and compares the offer the callback names with the
conversation's: a repeated or late callback finds it moved on and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel
from router.conversations.history import Actor, Change, Journal
from router.conversations.service import lock_conversation
from router.db import driver_connection
from router.models import Agent, Conversation, ConversationStatus, Message, OfferState, Queue
from router.routing import assignment
from router.routing.assignment import exclusion, take_back
from router.routing.board import load_board
from router.routing.explanation import UNKNOWN_PLACEMENT, OfferPath, read_placements
from router.routing.offers import release_slot
from router.settings import Settings
from router.voice import progress
from router.voice.progress import Stage, offer_mark
from router.voice.schemas import DEFAULT_WAIT_MESSAGE, EndpointKind, QueueVoice

# After the ring time, how long an offer still waits for the ring's outcome callback.
RING_GRACE = timedelta(seconds=30)
# Ring outcomes that take the offer back: the change recorded and the exclusion's reason.
LAPSES = {
    "no-answer": (Change.TIMED_OUT, "did not answer"),
    "canceled": (Change.TIMED_OUT, "ring canceled"),
    "busy": (Change.DECLINED, "busy"),
    "failed": (Change.DECLINED, "call to the agent failed"),
}
ANSWERS = frozenset({"completed", "answered"})


@dataclass(frozen=True, slots=True)
class Hold:
    """Nothing decided yet: pause, then ask again."""


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring this agent's endpoint for their ring time; the ring is the offer."""

    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    offer: int
    endpoint_kind: EndpointKind
    endpoint: str
    ring_seconds: int


@dataclass(frozen=True, slots=True)
class Voicemail:
    """Nobody can take the call now: the queue's wait message, music, then the voicemail."""

    wait_message: str
    music_url: str | None


@dataclass(frozen=True, slots=True)
class Over:
    """The call is with an agent, or over: nothing more to say."""


CallStep = Hold | Ring | Voicemail | Over


def _journal(settings: Settings, now: datetime) -> Journal:
    return Journal(now, settings.topic_events if settings.transport_is_kafka() else None)


async def next_step(
    session: AsyncSession,
    provider: str,
    call_sid: str,
    now: datetime,
    *,
    give_up: bool,
) -> CallStep:
    """What a waiting caller gets now: a ring of the offered agent, a hold, or the voicemail.

    `give_up`: the caller has waited as long as we let them for the engine; a call still not
    routed then goes to the voicemail, which reaches the conversation all the same.
    """
    found = await progress.find_call(session, provider, call_sid)
    if found is None:
        return Voicemail(DEFAULT_WAIT_MESSAGE, None) if give_up else Hold()
    message_id, conversation_id = found
    conversation = await lock_conversation(session, conversation_id)
    assert conversation is not None
    call = await progress.lock_call(session, message_id)
    current = progress.stage(call)
    if current in {Stage.CONNECTED, Stage.ENDED, Stage.ABANDONED}:
        return Over()
    if (
        current is not Stage.VOICEMAIL
        and conversation.status == ConversationStatus.OPEN
        and conversation.channel == Channel.VOICE.value
        and conversation.agent_id is not None
    ):
        return await _ring(session, conversation, call, conversation.agent_id, now)
    # Nobody free (or the call joined a conversation on another channel, whose owner calls
    # back): the conversation waits in its queue, the caller may leave a message.
    voice = QueueVoice()
    if conversation.queue_id is not None:
        stored = await session.scalar(select(Queue.voice).where(Queue.id == conversation.queue_id))
        voice = QueueVoice.model_validate(stored or {})
    if current is not Stage.VOICEMAIL:
        progress.note(call, call_stage=Stage.VOICEMAIL.value, voicemail_at=now.isoformat())
    return Voicemail(voice.wait_message or DEFAULT_WAIT_MESSAGE, voice.music_url)


async def _ring(
    session: AsyncSession,
    conversation: Conversation,
    call: Message,
    agent_id: uuid.UUID,
    now: datetime,
) -> Ring:
    agent = await session.scalar(select(Agent).where(Agent.id == agent_id))
    assert agent is not None
    mark = offer_mark(conversation.offered_at)
    assert mark is not None
    kind = EndpointKind(agent.voice_endpoint_kind or EndpointKind.CLIENT.value)
    endpoint = agent.voice_endpoint or agent.handle
    if conversation.offer_state == OfferState.OFFERED:
        # The ring is the offer: it lasts as long as the agent's phone rings, not the
        # console's offer timeout, so the sweep does not move it on while it still rings.
        rings_until = now + timedelta(seconds=agent.ring_seconds) + RING_GRACE
        if conversation.offer_expires_at is None or conversation.offer_expires_at < rings_until:
            conversation.offer_expires_at = rings_until
    progress.ring_started(call, agent_id, kind.value, mark, now)
    return Ring(conversation.id, agent_id, mark, kind, endpoint, agent.ring_seconds)


async def _matching(
    session: AsyncSession, conversation_id: uuid.UUID, agent_id: uuid.UUID, offer: int
) -> Conversation | None:
    """The conversation, locked, when this agent still holds this offer of it."""
    conversation = await lock_conversation(session, conversation_id)
    if (
        conversation is None
        or conversation.status != ConversationStatus.OPEN
        or conversation.agent_id != agent_id
        or offer_mark(conversation.offered_at) != offer
    ):
        return None
    return conversation


async def _call_of(session: AsyncSession, provider: str, call_sid: str) -> Message | None:
    found = await progress.find_call(session, provider, call_sid)
    return None if found is None else await progress.lock_call(session, found[0])


async def ring_answered(
    session: AsyncSession,
    settings: Settings,
    provider: str,
    call_sid: str,
    conversation_id: uuid.UUID,
    agent_id: uuid.UUID,
    offer: int,
    now: datetime,
) -> bool:
    """The agent picked up: accept the offer and mark them on a call. False: nothing changed."""
    conversation = await _matching(session, conversation_id, agent_id, offer)
    if conversation is None:
        return False
    call = await _call_of(session, provider, call_sid)
    if call is not None and progress.stage(call) in {Stage.CONNECTED, Stage.ENDED}:
        return False
    journal = _journal(settings, now)
    rang = progress.ring_ended(call, agent_id, offer, "answered", now) if call is not None else None
    if conversation.offer_state == OfferState.OFFERED:
        conversation.offer_state = OfferState.ACCEPTED.value
        conversation.offer_expires_at = None
        conversation.last_agent_id = agent_id
        conversation.excluded_agents = {}
        journal.record(
            conversation.id,
            Change.ACCEPTED,
            "answered the call" + (f" after {rang:g} s of ringing" if rang is not None else ""),
            actor=Actor.AGENT,
            actor_id=str(agent_id),
            agent_id=agent_id,
            queue_id=conversation.queue_id,
            details={"call_sid": call_sid, "ring_seconds": rang},
        )
    # Lock order: the conversation (held), then the agent row.
    await session.execute(update(Agent).where(Agent.id == agent_id).values(on_call_since=now))
    if call is not None:
        progress.note(
            call,
            call_stage=Stage.CONNECTED.value,
            answered_by=str(agent_id),
            answered_at=now.isoformat(),
        )
    await journal.flush(session)
    return True


async def ring_outcome(
    session: AsyncSession,
    settings: Settings,
    provider: str,
    call_sid: str,
    conversation_id: uuid.UUID,
    agent_id: uuid.UUID,
    offer: int,
    dial_status: str,
    talk_seconds: int | None,
    now: datetime,
) -> CallStep:
    """Apply how the ring of this offer ended; what the caller gets next.

    Answered: the offer is accepted (if the answer was not heard already) and the call is
    over once the agent hangs up. Otherwise the offer is taken back like a lapse or a
    decline and the conversation offered to the next eligible agent; the caller waits again.
    A status Twilio may add later counts as a failed ring. A callback naming an offer that
    moved on (a retry) changes nothing and gets the same answer.
    """
    if dial_status in ANSWERS:
        await ring_answered(
            session, settings, provider, call_sid, conversation_id, agent_id, offer, now
        )
        call = await _call_of(session, provider, call_sid)
        if call is not None and talk_seconds is not None:
            progress.note(call, talk_seconds=talk_seconds)
        return Over()
    conversation = await _matching(session, conversation_id, agent_id, offer)
    if conversation is None or conversation.offer_state != OfferState.OFFERED:
        return Hold()
    call = await _call_of(session, provider, call_sid)
    rang = progress.ring_ended(call, agent_id, offer, dial_status, now) if call else None
    change, why = LAPSES.get(dial_status, LAPSES["failed"])
    if call is not None:
        progress.note(call, call_stage=Stage.WAITING.value)
    board = await load_board(session, now, lock=True, also_lock={agent_id})
    if str(agent_id) not in board.agents:
        # They went offline meanwhile: their slot is not on the board.
        await release_slot(session, str(agent_id), Channel(conversation.channel))
    journal = _journal(settings, now)
    take_back(
        board,
        conversation,
        journal,
        change,
        f"{why}" + (f" after {rang:g} s of ringing" if rang is not None else ""),
        exclude=exclusion(why, now, timedelta(seconds=settings.offer_exclusion_seconds)),
        actor_id=str(agent_id),
    )
    # The caller's next wait reads what this decided: a ring of the next agent, or nobody.
    placements = await read_placements(await driver_connection(session), [conversation.id])
    assignment.offer(
        board,
        conversation,
        journal,
        offer_timeout=timedelta(seconds=settings.offer_timeout_seconds),
        path=OfferPath.RING_ENDED,
        placement=placements.get(conversation.id, UNKNOWN_PLACEMENT),
    )
    await journal.flush(session)
    await board.save(session)
    return Hold()
