"""Sending surveys: one per resolution, on the conversation's own channel, as an automatic
message through the outbound dispatcher.

A survey row is written in the resolve's own transaction; (conversation, resolution) is
unique, so a retried or concurrent resolve never makes a second one. A survey due at once
gets its message in that transaction too; a delayed one is sent by the sweep, which claims
due rows with `FOR UPDATE SKIP LOCKED`, so two processes never both send it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel
from router.conversations.history import Change
from router.feedback import links, settings_store
from router.feedback.policy import SurveyKind, plan_for, scale_hint
from router.inbound.envelope import DeliveryStatus
from router.models import (
    Conversation,
    ConversationEvent,
    ConversationStatus,
    ConversationThread,
    Feedback,
    FeedbackSurvey,
    Message,
)
from router.outbound.automatic import automatic_details, may_answer_automatically
from router.outbound.email_thread import outbound_message_id
from router.outbound.ports import SenderDirectory
from router.settings import Settings

log = logging.getLogger(__name__)

SURVEY_SUBJECT = "How did we do?"
_SWEEP_BATCH = 100


def answer_link(settings: Settings, survey: FeedbackSurvey) -> str | None:
    """The survey's signed link to its answer page, or None when links are not configured."""
    if settings.feedback_link_secret is None or not settings.public_base_url:
        return None
    token = links.sign(
        settings.feedback_link_secret.get_secret_value().encode(), survey.id, survey.expires_at
    )
    return f"{settings.public_base_url.rstrip('/')}/feedback/{token}"


async def survey_after_resolve(
    session: AsyncSession,
    settings: Settings,
    senders: SenderDirectory,
    conversation: Conversation,
    agent_id: uuid.UUID | None,
    now: datetime,
) -> uuid.UUID | None:
    """Plan the survey of the resolve just made; the id of its message when it is due now.

    None when no survey goes out: off for this queue or channel, nothing to answer, a
    customer who is an automatic sender, no sender or no link configured for the channel.
    The caller submits the message to the dispatcher after its transaction commits.
    """
    channel = Channel(conversation.channel)
    plan = plan_for(
        (await settings_store.current(session)).settings, channel, conversation.queue_id
    )
    if plan is None:
        return None
    inbound = await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if inbound is None or not may_answer_automatically(inbound.details):
        return None
    sender = senders.sender_for(channel, inbound.provider)
    if sender is None:
        return None
    if plan.by_link and (settings.feedback_link_secret is None or not settings.public_base_url):
        log.info("no survey link: ROUTER_FEEDBACK_LINK_SECRET or the public URL is unset")
        return None
    resolution = await session.scalar(
        select(func.count())
        .select_from(ConversationEvent)
        .where(
            ConversationEvent.conversation_id == conversation.id,
            ConversationEvent.kind == Change.RESOLVED.value,
        )
    )
    survey_id = uuid.uuid4()
    created = await session.scalar(
        insert(FeedbackSurvey)
        .values(
            id=survey_id,
            conversation_id=conversation.id,
            resolution=resolution or 1,
            resolved_at=now,
            agent_id=agent_id,
            queue_id=conversation.queue_id,
            channel=channel.value,
            kind=plan.kind.value,
            question=plan.question,
            thanks=plan.thanks,
            by_link=plan.by_link,
            provider=sender.provider,
            via=inbound.provider,
            sender=inbound.recipient,
            recipient=inbound.sender,
            send_at=now + timedelta(seconds=plan.delay_seconds),
            expires_at=now + timedelta(seconds=plan.delay_seconds, hours=plan.expires_hours),
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["conversation_id", "resolution"])
        .returning(FeedbackSurvey.id)
    )
    if created is None or plan.delay_seconds > 0:
        return None
    survey = await session.get_one(FeedbackSurvey, survey_id)
    return _send(session, settings, survey, now)


def _send(
    session: AsyncSession, settings: Settings, survey: FeedbackSurvey, now: datetime
) -> uuid.UUID | None:
    """Queue the survey's message and mark it sent; its id, for the dispatcher."""
    survey.sent_at = now
    if survey.by_link:
        link = answer_link(settings, survey)
        if link is None:
            return None
        text = f"{survey.question}\n\nTell us in one click: {link}"
    else:
        text = f"{survey.question} {scale_hint(SurveyKind(survey.kind))}"
    message = automatic_message(survey, text, now, answering=False)
    if survey.channel == Channel.EMAIL.value:
        message.subject = SURVEY_SUBJECT
        # Our Message-ID names the conversation's thread, as an agent's reply's does: the
        # customer answering the mail writes on this conversation.
        own_id = outbound_message_id(
            message.id, survey.sender or "", settings.email_message_id_domain
        )
        message.details = {**message.details, "message_id": own_id}
        session.add(
            ConversationThread(thread_key=f"email:{own_id}", conversation_id=survey.conversation_id)
        )
    survey.message_id = message.id
    session.add(message)
    return message.id


def automatic_message(
    survey: FeedbackSurvey, text: str, now: datetime, *, answering: bool
) -> Message:
    """A queued automatic message of the survey to its customer (the survey or the thanks)."""
    return Message(
        id=uuid.uuid4(),
        conversation_id=survey.conversation_id,
        direction="outbound",
        kind="text",
        channel=survey.channel,
        provider=survey.provider,
        sender=survey.sender,
        recipient=survey.recipient,
        text=text,
        stripped_text=text,
        attachments=[],
        details={
            "via": survey.via,
            "survey_id": str(survey.id),
            **automatic_details(answering=answering),
        },
        delivery_status=DeliveryStatus.QUEUED.value,
        received_at=now,
        created_at=now,
    )


async def send_due(session: AsyncSession, settings: Settings, now: datetime) -> list[uuid.UUID]:
    """Send the delayed surveys now due; the ids of their messages, for the dispatcher.

    A survey whose conversation was reopened meanwhile, or whose time ran out, is dropped
    (marked sent without a message): its resolution is no longer the customer's last word.
    """
    due = (
        await session.scalars(
            select(FeedbackSurvey)
            .where(FeedbackSurvey.sent_at.is_(None), FeedbackSurvey.send_at <= now)
            .order_by(FeedbackSurvey.send_at)
            .limit(_SWEEP_BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not due:
        return []
    resolved = await session.execute(
        select(Conversation.id, Conversation.resolved_at).where(
            Conversation.id.in_({survey.conversation_id for survey in due}),
            Conversation.status == ConversationStatus.RESOLVED.value,
        )
    )
    current = {conversation_id: at for conversation_id, at in resolved.all()}
    sent: list[uuid.UUID] = []
    for survey in due:
        if current.get(survey.conversation_id) != survey.resolved_at or survey.expires_at <= now:
            survey.sent_at = now
            continue
        message_id = _send(session, settings, survey, now)
        if message_id is not None:
            sent.append(message_id)
    return sent


async def queued_thanks(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Thank-you messages still queued: the engine queues them, this process sends them."""
    return list(
        (
            await session.scalars(
                select(Message.id)
                .join(FeedbackSurvey, FeedbackSurvey.thanks_message_id == Message.id)
                .join(Feedback, Feedback.survey_id == FeedbackSurvey.id)
                .where(
                    Feedback.received_at > now - timedelta(hours=1),
                    Message.delivery_status == DeliveryStatus.QUEUED.value,
                )
            )
        ).all()
    )
