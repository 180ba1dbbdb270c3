"""The end of a live call, as the routing engine applies the call's final status.

- An agent answered: the call held one of their voice slots; the slot is freed, the agent is
  off the call, and the conversation is resolved (the call was the work; a note or a
  callback reopens it as any resolved conversation). Wrap-up happens on the resolved
  conversation, so a finished call never keeps a slot nobody is talking on.
- The caller hung up while waiting or while an agent's phone rang: any offer is taken back
  (the slot freed) and the conversation is resolved as abandoned.
- The caller was offered the voicemail: the conversation keeps waiting in its queue for
  someone to call back; nothing changes here.

Calls the router never answered live (a call we placed) and calls that joined a conversation
on another channel are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel
from router.conversations import service as conversations
from router.conversations.history import Actor, Change, Journal
from router.conversations.service import lock_conversation
from router.models import Agent, ConversationStatus, OfferState
from router.routing.assignment import take_back
from router.routing.calls import EndedCall
from router.routing.offers import release_slot
from router.settings import Settings
from router.voice import progress
from router.voice.progress import Stage

_LIVE = {None, Stage.WAITING.value, Stage.RINGING.value, Stage.CONNECTED.value}


async def settle_ended_calls(
    session: AsyncSession, settings: Settings, ended: Sequence[EndedCall], now: datetime
) -> None:
    """Settle the conversations of live calls that ended: free the slot, resolve or abandon.

    Runs in the engine's batch, after the calls' final statuses are applied, with the
    conversations already locked by them; each ended call is settled once.
    """
    for call in ended:
        if not call.inbound or call.stage not in _LIVE:
            continue
        conversation = await lock_conversation(session, call.conversation_id)
        if (
            conversation is None
            or conversation.status != ConversationStatus.OPEN
            or conversation.channel != Channel.VOICE.value
        ):
            continue
        message = await progress.lock_call(session, call.message_id)
        lasted = f" after {call.duration} s" if call.duration is not None else ""
        if call.stage == Stage.CONNECTED.value:
            answered_by = message.details.get("answered_by")
            if isinstance(answered_by, str):
                await session.execute(
                    update(Agent).where(Agent.id == answered_by).values(on_call_since=None)
                )
            progress.note(message, call_stage=Stage.ENDED.value)
            await conversations.resolve(
                session,
                settings,
                conversation.id,
                Actor.SYSTEM.value,
                now,
                actor=Actor.SYSTEM,
                reason=f"call ended{lasted}",
            )
            continue
        if conversation.offer_state == OfferState.ACCEPTED:
            continue  # someone took it on (from the console) and will call back
        if conversation.offer_state == OfferState.OFFERED:
            agent = conversation.agent_id
            assert agent is not None
            journal = Journal(now, settings.topic_events if settings.transport_is_kafka() else None)
            take_back(
                None,
                conversation,
                journal,
                Change.REVOKED,
                "the caller hung up before the call was answered",
                actor_id=str(agent),
            )
            await release_slot(session, str(agent), Channel(conversation.channel))
            await journal.flush(session)
        progress.note(message, call_stage=Stage.ABANDONED.value, abandoned_at=now.isoformat())
        await conversations.resolve(
            session,
            settings,
            conversation.id,
            Actor.CUSTOMER.value,
            now,
            actor=Actor.CUSTOMER,
            reason=f"abandoned: the caller hung up while waiting{lasted}",
        )
