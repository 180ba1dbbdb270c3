"""Answers given on the survey page, through a signed link (email and web chat)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.db import driver_connection
from router.feedback import events
from router.feedback.policy import Answer
from router.models import FeedbackSurvey


class LinkState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LinkedSurvey:
    state: LinkState
    survey: FeedbackSurvey | None


async def linked_survey(
    session: AsyncSession, survey_id: uuid.UUID, now: datetime, *, lock: bool = False
) -> LinkedSurvey:
    """The survey a verified link names, and whether it may still be answered."""
    query = select(FeedbackSurvey).where(
        FeedbackSurvey.id == survey_id, FeedbackSurvey.by_link.is_(True)
    )
    survey = await session.scalar(query.with_for_update() if lock else query)
    if survey is None or survey.sent_at is None:
        return LinkedSurvey(LinkState.UNKNOWN, None)
    if survey.answered_at is not None:
        return LinkedSurvey(LinkState.ANSWERED, survey)
    if survey.expires_at <= now:
        return LinkedSurvey(LinkState.CLOSED, survey)
    return LinkedSurvey(LinkState.OPEN, survey)


async def answer_on_page(
    session: AsyncSession,
    survey: FeedbackSurvey,
    answer: Answer,
    now: datetime,
    events_topic: str | None,
) -> bool:
    """Store the page's answer (under the survey's row lock); False when one was stored first."""
    stored = await events.store(
        await driver_connection(session),
        [
            events.Received(
                feedback_id=uuid.uuid4(),
                survey_id=survey.id,
                conversation_id=survey.conversation_id,
                resolution=survey.resolution,
                agent_id=survey.agent_id,
                queue_id=survey.queue_id,
                channel=survey.channel,
                kind=survey.kind,
                score=answer.score,
                comment=answer.comment,
                received_at=now,
            )
        ],
        now,
        events_topic,
    )
    return bool(stored)
