"""The routing policy: every version kept with who made it; exactly one active."""

from __future__ import annotations

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.admin.schemas import PolicyDraft, PolicyVersion
from router.errors import ProblemError
from router.models import Queue, RoutingPolicy
from router.routing.board import BUILT_IN_POLICY
from router.routing.policy import RoutingPolicy as Policy
from router.routing.policy import validate_policy

# Serialises policy changes, so two editors never claim the same version number.
_POLICY_LOCK = 7_260_003


class InvalidPolicy(ProblemError):
    status = 422
    problem = "invalid-policy"
    title = "The routing policy is not valid"


def _version(row: RoutingPolicy) -> PolicyVersion:
    return PolicyVersion(
        version=row.version,
        active=row.active,
        policy=Policy.model_validate(row.document),
        created_by=row.created_by,
        created_at=row.created_at,
        comment=row.comment,
    )


async def current(session: AsyncSession) -> PolicyVersion:
    """The active version; before anyone stored one, the built-in policy (version 1)."""
    row = await session.scalar(select(RoutingPolicy).where(RoutingPolicy.active.is_(True)))
    if row is None:
        return PolicyVersion(
            version=BUILT_IN_POLICY.version,
            active=True,
            policy=BUILT_IN_POLICY,
            created_by="built-in",
            created_at=None,
            comment="everything goes to the default queue",
        )
    return _version(row)


async def history(session: AsyncSession, limit: int) -> list[PolicyVersion]:
    """Stored versions, newest first."""
    rows = (
        await session.scalars(
            select(RoutingPolicy).order_by(RoutingPolicy.version.desc()).limit(limit)
        )
    ).all()
    return [_version(row) for row in rows]


async def publish(session: AsyncSession, draft: PolicyDraft, author: str) -> PolicyVersion:
    """Validate the draft against the known queues and make it the active version.

    An invalid draft is refused with every problem listed, and nothing changes.
    """
    await session.execute(text(f"SELECT pg_advisory_xact_lock({_POLICY_LOCK})"))
    latest = await session.scalar(select(func.max(RoutingPolicy.version)))
    # The built-in policy is version 1, so the first stored one is 2.
    version = max(latest or BUILT_IN_POLICY.version, BUILT_IN_POLICY.version) + 1
    policy = Policy(
        version=version,
        rules=tuple(draft.rules),
        default_queue=draft.default_queue,
        default_priority=draft.default_priority,
    )
    known = set((await session.scalars(select(Queue.name))).all())
    problems = validate_policy(policy, known)
    if problems:
        raise InvalidPolicy(
            f"{len(problems)} problem(s): {problems[0]}",
            errors=[{"message": problem} for problem in problems],
        )
    await session.execute(
        update(RoutingPolicy).where(RoutingPolicy.active.is_(True)).values(active=False)
    )
    row = RoutingPolicy(
        version=version,
        document=policy.model_dump(mode="json"),
        active=True,
        created_by=author[:200],
        comment=draft.comment,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return _version(row)
