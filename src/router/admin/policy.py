"""The routing policy: every version kept with who made it and why; exactly one active.

A version can be restored (as a new version with its document) and a sample conversation
routed as a dry run, through the routing engine's own functions, changing nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.admin.schemas import DryRunAnswer, DryRunRequest, PolicyDraft, PolicyVersion
from router.audit.service import Subject
from router.conversations.history import Journal
from router.document_versions import VersionedDocument
from router.errors import NotFound, ProblemError
from router.models import ConversationStatus, Queue, RoutingPolicy
from router.routing.assignment import choose_queue, offer
from router.routing.board import BUILT_IN_POLICY, load_board
from router.routing.explanation import OfferPath
from router.routing.policy import RoutingFacts, validate_policy
from router.routing.policy import RoutingPolicy as Policy
from router.routing.records import ConversationRecord

# Serialises policy changes, so two editors never claim the same version number.
_POLICY_LOCK = 7_260_003
_BUILT_IN_COMMENT = "everything goes to the default queue"


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


def _built_in(active: bool) -> PolicyVersion:
    return PolicyVersion(
        version=BUILT_IN_POLICY.version,
        active=active,
        policy=BUILT_IN_POLICY,
        created_by="built-in",
        created_at=None,
        comment=_BUILT_IN_COMMENT,
    )


def _summary(version: PolicyVersion) -> dict[str, Any]:
    """What the audit trail keeps of a version: its number and what it routes where."""
    return {
        "version": version.version,
        "default_queue": version.policy.default_queue,
        "rules": [f"{rule.name} -> {rule.queue}" for rule in version.policy.rules],
    }


# The built-in policy is version 1, so the first stored one is 2.
_VERSIONS = VersionedDocument(
    model=RoutingPolicy,
    lock=_POLICY_LOCK,
    subject=Subject.ROUTING_POLICY,
    built_in_version=BUILT_IN_POLICY.version,
    view=_version,
    built_in=_built_in,
    summary=_summary,
)


async def current(session: AsyncSession) -> PolicyVersion:
    """The active version; before anyone stored one, the built-in policy (version 1)."""
    return await _VERSIONS.current(session)


async def history(session: AsyncSession, limit: int) -> list[PolicyVersion]:
    """Every version, newest first, down to the built-in version 1 (active until replaced)."""
    return await _VERSIONS.history(session, limit)


async def publish(
    session: AsyncSession,
    draft: PolicyDraft,
    author: str,
    *,
    action: str = "routing_policy.published",
) -> PolicyVersion:
    """Validate the draft against the known queues and make it the active version.

    An invalid draft is refused with every problem listed, and nothing changes. The change
    is audited as `action` by `author`.
    """
    version = await _VERSIONS.next_version(session)
    policy = await _checked(session, draft, version)
    return await _VERSIONS.publish(
        session,
        version=version,
        document=policy.model_dump(mode="json"),
        author=author,
        comment=draft.comment,
        action=action,
    )


async def _checked(session: AsyncSession, draft: PolicyDraft, version: int) -> Policy:
    """The draft as a policy, or 422 with every problem it has against the known queues."""
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
    return policy


async def restore(session: AsyncSession, version: int, reason: str, author: str) -> PolicyVersion:
    """Make a new active version whose document is `version`'s, recording who and why.

    404 for a version never made; 422 when it names queues that no longer exist.
    """
    if version == BUILT_IN_POLICY.version:
        document = BUILT_IN_POLICY
    else:
        row = await session.scalar(select(RoutingPolicy).where(RoutingPolicy.version == version))
        if row is None:
            raise NotFound(f"routing policy version {version} does not exist")
        document = Policy.model_validate(row.document)
    draft = PolicyDraft(
        rules=list(document.rules),
        default_queue=document.default_queue,
        default_priority=document.default_priority,
        comment=f"restored version {version}: {reason}",
    )
    return await publish(session, draft, author, action="routing_policy.restored")


async def dry_run(session: AsyncSession, request: DryRunRequest, now: datetime) -> DryRunAnswer:
    """Route a sample conversation as the engine would now, without changing anything.

    The engine's own steps run (`choose_queue`, then `offer`) on an unlocked board whose
    counts are never saved, into a journal that is never written: the answer is what their
    history rows would have said. A draft policy is checked first, as publishing checks it.
    """
    board = await load_board(session, now)
    if request.policy is not None:
        board.policy = await _checked(session, request.policy, BUILT_IN_POLICY.version)
    sample = ConversationRecord(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        channel=request.channel.value,
        status=ConversationStatus.OPEN.value,
        waiting_since=now,
        last_message_at=now,
        created_at=now,
    )
    journal = Journal(now, None)
    facts = RoutingFacts(
        channel=request.channel,
        recipient=request.recipient,
        customer_attributes=request.customer_attributes,
        text=request.text,
    )
    placement = choose_queue(board, sample, facts, journal)
    offer(
        board,
        sample,
        journal,
        offer_timeout=timedelta(0),
        path=OfferPath.DRY_RUN,
        placement=placement,
    )
    # The first row places it in its queue; the last offers it, or says why it waits.
    queued, decided = journal.rows[0]["details"], journal.rows[-1]["details"]
    return DryRunAnswer(
        policy_version=None if request.policy is not None else queued["policy_version"],
        rule=queued["rule"],
        queue=decided["queue"],
        overflow_from=queued.get("overflow_from"),
        priority=queued["priority"],
        outcome=decided["outcome"],
        agent_id=decided["agent_id"],
        reason=decided["reason"],
        candidates=decided["candidates"],
    )
