"""Queues as administrators manage them, and the live overview supervisors watch."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.admin.schemas import QueueCreate, QueueOut, QueueOverview, QueueUpdate, ServingAgent
from router.audit.service import Subject, record
from router.channels import Presence
from router.console.queries import agent_loads
from router.errors import Conflict, InvalidPayload, NotFound
from router.models import Agent, Conversation, ConversationStatus, OfferState, Queue, QueueAgent
from router.routing.board import DEFAULT_QUEUE, active_policy


async def get_queue(session: AsyncSession, queue_id: uuid.UUID, *, lock: bool = False) -> Queue:
    """One queue, or 404."""
    query = select(Queue).where(Queue.id == queue_id)
    if lock:
        query = query.with_for_update()
    queue = await session.scalar(query)
    if queue is None:
        raise NotFound(f"queue {queue_id} does not exist")
    return queue


async def list_queues(session: AsyncSession) -> list[QueueOut]:
    """Every queue's configuration, by name."""
    rows = (await session.scalars(select(Queue).order_by(Queue.name))).all()
    return [QueueOut.model_validate(row) for row in rows]


def _summary(queue: Queue) -> dict[str, Any]:
    """What the audit trail keeps of a queue: its configuration."""
    return QueueOut.model_validate(queue).model_dump(mode="json", exclude={"id", "created_at"})


async def _audit(
    session: AsyncSession,
    actor: str,
    action: str,
    queue_id: uuid.UUID,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await record(
        session,
        actor=actor,
        action=action,
        subject=Subject.QUEUE,
        subject_id=str(queue_id),
        before=before,
        after=after,
    )


async def _policy_names(session: AsyncSession) -> set[str]:
    policy = await active_policy(session)
    return {policy.default_queue, *(rule.queue for rule in policy.rules)}


async def _check_overflow(
    session: AsyncSession, queue_id: uuid.UUID | None, overflow: uuid.UUID | None
) -> None:
    if overflow is None:
        return
    if overflow == queue_id:
        raise InvalidPayload(
            "overflow_queue_id: a queue cannot overflow to itself", field="overflow_queue_id"
        )
    if await session.get(Queue, overflow) is None:
        raise InvalidPayload(f"overflow_queue_id: no queue {overflow}", field="overflow_queue_id")


_TIME_RULES = (
    "on_owner_away",
    "owner_away_grace_seconds",
    "reply_time_seconds",
    "on_no_reply",
    "max_wait_seconds",
)


def _check_time_rules(queue: Queue) -> None:
    """The queue's time rules, as they will be stored, make sense together (else 422)."""
    if queue.on_owner_away == "requeue_after" and queue.owner_away_grace_seconds is None:
        raise InvalidPayload(
            "owner_away_grace_seconds: required when on_owner_away is requeue_after",
            field="owner_away_grace_seconds",
        )
    if queue.on_owner_away == "keep" and queue.owner_away_grace_seconds is not None:
        raise InvalidPayload(
            "owner_away_grace_seconds: only with on_owner_away requeue_after",
            field="owner_away_grace_seconds",
        )
    if queue.max_wait_seconds is not None and queue.overflow_queue_id is None:
        raise InvalidPayload(
            "max_wait_seconds: needs an overflow_queue_id to move conversations to",
            field="max_wait_seconds",
        )


async def create_queue(session: AsyncSession, request: QueueCreate, *, actor: str) -> QueueOut:
    """Add a queue; the routing policy can send conversations to it from then on.

    Audited as done by `actor`.
    """
    if await session.scalar(select(Queue.id).where(Queue.name == request.name)):
        raise Conflict(f"a queue named {request.name!r} exists")
    await _check_overflow(session, None, request.overflow_queue_id)
    queue = Queue(
        id=uuid.uuid4(),
        name=request.name,
        required_skills=dict(request.required_skills),
        language=request.language,
        priority=request.priority,
        business_hours=request.business_hours.model_dump(mode="json")
        if request.business_hours
        else None,
        overflow_queue_id=request.overflow_queue_id,
        **{rule: getattr(request, rule) for rule in _TIME_RULES},
        order_waiting=request.order_waiting.value,
        voice=request.voice.model_dump(mode="json", exclude_none=True),
    )
    _check_time_rules(queue)
    session.add(queue)
    await session.flush()
    await session.refresh(queue)
    await _audit(session, actor, "queue.created", queue.id, None, _summary(queue))
    return QueueOut.model_validate(queue)


async def update_queue(
    session: AsyncSession, queue_id: uuid.UUID, request: QueueUpdate, *, actor: str
) -> QueueOut:
    """Change the fields present; renaming is refused while the active policy names the queue.

    Audited as done by `actor`.
    """
    queue = await get_queue(session, queue_id, lock=True)
    before = _summary(queue)
    present = request.model_fields_set
    if "name" in present and request.name is not None and request.name != queue.name:
        if queue.name == DEFAULT_QUEUE or queue.name in await _policy_names(session):
            raise Conflict(
                f"the routing policy sends conversations to {queue.name!r}; change it first"
            )
        if await session.scalar(select(Queue.id).where(Queue.name == request.name)):
            raise Conflict(f"a queue named {request.name!r} exists")
        queue.name = request.name
    if "required_skills" in present:
        queue.required_skills = dict(request.required_skills or {})
    if "language" in present:
        queue.language = request.language
    if "priority" in present and request.priority is not None:
        queue.priority = request.priority
    if "business_hours" in present:
        hours = request.business_hours
        queue.business_hours = hours.model_dump(mode="json") if hours else None
    if "overflow_queue_id" in present:
        await _check_overflow(session, queue.id, request.overflow_queue_id)
        queue.overflow_queue_id = request.overflow_queue_id
    for rule in _TIME_RULES:
        if rule in present:
            setattr(queue, rule, getattr(request, rule))
    if request.on_owner_away == "keep" and "owner_away_grace_seconds" not in present:
        queue.owner_away_grace_seconds = None  # a grace period means nothing to `keep`
    _check_time_rules(queue)
    if "order_waiting" in present and request.order_waiting is not None:
        queue.order_waiting = request.order_waiting.value
    if "voice" in present and request.voice is not None:
        queue.voice = request.voice.model_dump(mode="json", exclude_none=True)
    await session.flush()
    await session.refresh(queue)
    await _audit(session, actor, "queue.updated", queue.id, before, _summary(queue))
    return QueueOut.model_validate(queue)


async def delete_queue(session: AsyncSession, queue_id: uuid.UUID, *, actor: str) -> None:
    """Remove a queue nobody routes to and no conversation belongs to (else 409)."""
    queue = await get_queue(session, queue_id, lock=True)
    if queue.name == DEFAULT_QUEUE or queue.name in await _policy_names(session):
        raise Conflict(f"the routing policy sends conversations to {queue.name!r}; change it first")
    await _audit(session, actor, "queue.deleted", queue.id, _summary(queue), None)
    await session.delete(queue)
    # Conversations that belong to it refuse the delete here (caller: 409).
    await session.flush()


async def overview(session: AsyncSession, now: datetime) -> list[QueueOverview]:
    """Per queue: backlog, offers, accepted work, oldest waiting, and the serving agents' load."""
    queues = (await session.scalars(select(Queue).order_by(Queue.name))).all()
    waiting = Conversation.agent_id.is_(None)
    counts = {
        row.queue_id: row
        for row in (
            await session.execute(
                select(
                    Conversation.queue_id,
                    func.count().filter(waiting).label("backlog"),
                    func.count()
                    .filter(Conversation.offer_state == OfferState.OFFERED.value)
                    .label("offered"),
                    func.count()
                    .filter(Conversation.offer_state == OfferState.ACCEPTED.value)
                    .label("accepted"),
                    func.min(Conversation.waiting_since).filter(waiting).label("oldest"),
                )
                .where(Conversation.status == ConversationStatus.OPEN.value)
                .group_by(Conversation.queue_id)
            )
        ).all()
    }
    members = (
        await session.execute(
            select(QueueAgent.queue_id, Agent.id, Agent.handle, Agent.presence)
            .join(Agent, Agent.id == QueueAgent.agent_id)
            .order_by(QueueAgent.queue_id, Agent.handle)
        )
    ).all()
    loads = await agent_loads(session, list({row.id for row in members}))
    serving: dict[uuid.UUID, list[ServingAgent]] = {}
    for queue_id, agent_id, handle, presence in members:
        serving.setdefault(queue_id, []).append(
            ServingAgent(
                id=agent_id, handle=handle, presence=Presence(presence), load=loads[agent_id]
            )
        )
    result = []
    for queue in queues:
        row = counts.get(queue.id)
        oldest = row.oldest if row is not None else None
        result.append(
            QueueOverview(
                id=queue.id,
                name=queue.name,
                backlog=row.backlog if row is not None else 0,
                offered=row.offered if row is not None else 0,
                accepted=row.accepted if row is not None else 0,
                oldest_waiting_since=oldest,
                oldest_waiting_seconds=round((now - oldest).total_seconds(), 3) if oldest else None,
                agents=serving.get(queue.id, []),
            )
        )
    return result
