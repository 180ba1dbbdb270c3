"""Versioned documents: every version kept with who made it and why; at most one active.

The routing policy and the SLA policy are such documents, each in its own table and with its
own validation; this module reads, numbers and publishes their versions the same way. Until
someone publishes a version, a built-in one stands in, active until it is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from router.audit.service import Subject, record
from router.models.base import DocumentVersion

Row = TypeVar("Row", bound=DocumentVersion)
View = TypeVar("View")


async def next_version(
    session: AsyncSession, column: InstrumentedAttribute[int], lock: int, *, after: int = 0
) -> int:
    """Hold the document's lock to the end of the transaction and give its next version.

    The lock serialises saves, so two editors never claim the same number. `after` is the
    built-in version's number: the first stored version is the one after it.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
    latest = await session.scalar(select(func.max(column)))
    return max(latest or after, after) + 1


@dataclass(frozen=True, kw_only=True)
class VersionedDocument(Generic[Row, View]):
    """One versioned document: its table, how a version reads, what stands before any.

    `built_in(active)` is the version in force before any is stored; `summary` is what the
    audit trail keeps of a version.
    """

    model: type[Row]
    lock: int
    subject: Subject
    built_in_version: int
    view: Callable[[Row], View]
    built_in: Callable[[bool], View]
    summary: Callable[[View], dict[str, Any]]

    async def active_row(self, session: AsyncSession) -> Row | None:
        """The stored active version, or None while the built-in one is in force."""
        return await session.scalar(select(self.model).where(self.model.active.is_(True)))

    async def current(self, session: AsyncSession) -> View:
        """The active version; before anyone stored one, the built-in one."""
        row = await self.active_row(session)
        return self.built_in(True) if row is None else self.view(row)

    async def history(self, session: AsyncSession, limit: int) -> list[View]:
        """Every version, newest first, down to the built-in one (active until replaced)."""
        rows = (
            await session.scalars(
                select(self.model).order_by(self.model.version.desc()).limit(limit)
            )
        ).all()
        versions = [self.view(row) for row in rows]
        if len(versions) < limit:
            versions.append(self.built_in(not any(row.active for row in rows)))
        return versions

    async def next_version(self, session: AsyncSession) -> int:
        """Take the document's lock and give the number the next stored version gets."""
        return await next_version(
            session, self.model.version, self.lock, after=self.built_in_version
        )

    async def publish(
        self,
        session: AsyncSession,
        *,
        version: int,
        document: dict[str, Any],
        author: str,
        comment: str | None,
        action: str,
    ) -> View:
        """Store a checked document as `version` and make it the active one, audited.

        The caller has taken the number from `next_version` in the same transaction.
        """
        before = await self.current(session)
        await session.execute(
            update(self.model).where(self.model.active.is_(True)).values(active=False)
        )
        row = self.model()
        row.version, row.document, row.active = version, document, True
        row.created_by, row.comment = author[:200], comment
        session.add(row)
        await session.flush()
        await session.refresh(row)
        published = self.view(row)
        await record(
            session,
            actor=author,
            action=action,
            subject=self.subject,
            subject_id="active",
            before=self.summary(before),
            after={**self.summary(published), "comment": comment},
        )
        return published
