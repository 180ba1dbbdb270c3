"""Reading answers: the supervisors' listing, newest first, by queue, agent and time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from router.console import cursor
from router.models import Feedback


@dataclass(frozen=True)
class FeedbackFilter:
    queue_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def page(
    session: AsyncSession, wanted: FeedbackFilter, after: str | None, limit: int
) -> tuple[list[Feedback], str | None]:
    """One page of answers, newest first, after the cursor; and the next cursor."""
    conditions: list[ColumnElement[bool]] = []
    if wanted.queue_id is not None:
        conditions.append(Feedback.queue_id == wanted.queue_id)
    if wanted.agent_id is not None:
        conditions.append(Feedback.agent_id == wanted.agent_id)
    if wanted.since is not None:
        conditions.append(Feedback.received_at >= wanted.since)
    if wanted.until is not None:
        conditions.append(Feedback.received_at < wanted.until)
    if after is not None:
        at, ident = cursor.decode_time_id(after)
        conditions.append(tuple_(Feedback.received_at, Feedback.id) < (at, ident))
    rows = list(
        (
            await session.scalars(
                select(Feedback)
                .where(*conditions)
                .order_by(Feedback.received_at.desc(), Feedback.id.desc())
                .limit(limit + 1)
            )
        ).all()
    )
    following = None
    if len(rows) > limit:
        last = rows[limit - 1]
        following = cursor.encode(last.received_at, last.id)
    return rows[:limit], following
