"""The SLA policy's versions: every version kept with who made it and why; one active.

Before anyone publishes one, version 0 is active: no policies, so no conversation has SLA
clocks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.audit.service import Subject
from router.console.schemas import Text
from router.document_versions import VersionedDocument
from router.errors import ProblemError
from router.models import Queue, SlaPolicyVersion
from router.service_levels.policy import SlaPolicy, SlaPolicyDocument

# Serialises publications, so two editors never claim the same version number.
_SLA_POLICY_LOCK = 7_260_004


class InvalidSlaPolicy(ProblemError):
    status = 422
    problem = "invalid-sla-policy"
    title = "The SLA policy is not valid"


class SlaPolicyDraft(BaseModel):
    """A new SLA policy document; the server gives it the next version number."""

    model_config = ConfigDict(extra="forbid")

    policies: list[SlaPolicy] = Field(default_factory=list, max_length=200)
    comment: Text | None = Field(default=None, min_length=1, max_length=1000)


class SlaPolicyView(BaseModel):
    """One version of the SLA policy document."""

    version: int
    active: bool
    policies: list[SlaPolicy]
    created_by: str
    created_at: datetime | None
    comment: str | None


def _view(row: SlaPolicyVersion) -> SlaPolicyView:
    document = SlaPolicyDocument.model_validate(row.document)
    return SlaPolicyView(
        version=row.version,
        active=row.active,
        policies=list(document.policies),
        created_by=row.created_by,
        created_at=row.created_at,
        comment=row.comment,
    )


def _none_yet(active: bool) -> SlaPolicyView:
    return SlaPolicyView(
        version=0,
        active=active,
        policies=[],
        created_by="built-in",
        created_at=None,
        comment="no SLA policies",
    )


def _summary(view: SlaPolicyView) -> dict[str, Any]:
    return {"version": view.version, "policies": [policy.name for policy in view.policies]}


_VERSIONS = VersionedDocument(
    model=SlaPolicyVersion,
    lock=_SLA_POLICY_LOCK,
    subject=Subject.SLA_POLICY,
    built_in_version=0,
    view=_view,
    built_in=_none_yet,
    summary=_summary,
)


async def active_document(session: AsyncSession) -> tuple[int, SlaPolicyDocument]:
    """The active version's number and document (version 0, empty, before any)."""
    row = await _VERSIONS.active_row(session)
    if row is None:
        return 0, SlaPolicyDocument()
    return row.version, SlaPolicyDocument.model_validate(row.document)


async def current(session: AsyncSession) -> SlaPolicyView:
    """The active version of the SLA policy."""
    return await _VERSIONS.current(session)


async def history(session: AsyncSession, limit: int) -> list[SlaPolicyView]:
    """Every version, newest first, down to version 0."""
    return await _VERSIONS.history(session, limit)


async def publish(session: AsyncSession, draft: SlaPolicyDraft, author: str) -> SlaPolicyView:
    """Validate the draft against the known queues and make it the active version.

    An invalid draft is refused (422) with every problem listed, and nothing changes.
    Conversations already running keep their clocks until something happens to them (a
    transfer, a priority change, a reopening) that makes them be matched again.
    """
    try:
        document = SlaPolicyDocument(policies=tuple(draft.policies))
    except ValueError as error:
        raise InvalidSlaPolicy(str(error), errors=[{"message": str(error)}]) from None
    known = set((await session.scalars(select(Queue.name))).all())
    problems = unknown_queues_of(document, known)
    if problems:
        raise InvalidSlaPolicy(
            f"{len(problems)} problem(s): {problems[0]}",
            errors=[{"message": problem} for problem in problems],
        )
    return await _VERSIONS.publish(
        session,
        version=await _VERSIONS.next_version(session),
        document=document.model_dump(mode="json"),
        author=author,
        comment=draft.comment,
        action="sla_policy.published",
    )


def unknown_queues_of(document: SlaPolicyDocument, known: set[str]) -> list[str]:
    """Each queue named by a policy's match that does not exist, as a problem naming it."""
    return [
        f"policies[{index}].match.queues[{position}]: no queue is named {name!r}"
        for index, policy in enumerate(document.policies)
        for position, name in enumerate(policy.match.queues)
        if name not in known
    ]
