"""Recording administrators' changes and reading them back, newest first.

A change is recorded in the transaction that makes it, so the trail never shows a change that
was rolled back and never misses one that was committed. `before` and `after` are small
summaries of the subject (never a secret), null where it did not exist.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.console import cursor
from router.models import AdminAudit

_ACTOR_MAX = 200


class Subject(enum.StrEnum):
    """What an audited change is about."""

    AGENT = "agent"
    QUEUE = "queue"
    API_KEY = "api_key"
    ROUTING_POLICY = "routing_policy"
    SLA_POLICY = "sla_policy"


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    subject: Subject,
    subject_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Append one audited change in the caller's transaction (its time: the transaction's)."""
    session.add(
        AdminAudit(
            actor=actor[:_ACTOR_MAX],
            action=action,
            subject_kind=subject.value,
            subject_id=subject_id,
            before=before,
            after=after,
        )
    )
    await session.flush()


@dataclass(frozen=True)
class AuditFilter:
    """Which changes a page covers: one subject (kind, and id) and a window of time."""

    subject_kind: Subject | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def page(
    session: AsyncSession, wanted: AuditFilter, after: str | None, limit: int
) -> tuple[list[AdminAudit], str | None]:
    """One page of the changes, newest first, after the cursor; and the next cursor."""
    conditions: list[ColumnElement[bool]] = []
    if wanted.subject_kind is not None:
        conditions.append(AdminAudit.subject_kind == wanted.subject_kind.value)
    if wanted.subject_id is not None:
        conditions.append(AdminAudit.subject_id == wanted.subject_id)
    if wanted.since is not None:
        conditions.append(AdminAudit.at >= wanted.since)
    if wanted.until is not None:
        conditions.append(AdminAudit.at < wanted.until)
    if after is not None:
        conditions.append(AdminAudit.id < cursor.decode_int(after, "cursor"))
    newest_first = select(AdminAudit).where(*conditions).order_by(AdminAudit.id.desc())
    rows = list((await session.scalars(newest_first.limit(limit + 1))).all())
    following = cursor.encode(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], following
