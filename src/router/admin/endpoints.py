"""Supervisor and administrator endpoints under `/v1`.

Supervisors and admins read queues, agents and the policy and move conversations; only admins
change agents, queues and the policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from router.admin import agents, policy, queues
from router.admin.schemas import (
    AgentCreate,
    AgentDetail,
    AgentUpdate,
    AssignRequest,
    DryRunAnswer,
    DryRunRequest,
    PolicyDraft,
    PolicyRestore,
    PolicyVersion,
    QueueCreate,
    QueueOut,
    QueueOverview,
    QueueUpdate,
)
from router.auth.dependencies import Admin, Supervisor
from router.auth.service import Principal
from router.console.moves import redirect
from router.console.queries import load_visible
from router.console.runtime import ConsoleRuntime, console_runtime, router_state
from router.console.schemas import ConversationSummary
from router.console.service import actor_of
from router.conversations.history import Change
from router.db import in_transaction
from router.errors import Conflict
from router.inbound.envelope import utcnow
from router.models import Conversation, ConversationStatus
from router.openapi import problems
from router.settings import Settings
from router.state import RouterState

router = APIRouter(prefix="/v1", tags=["administration"])

State = Annotated[RouterState, Depends(router_state)]
Runtime = Annotated[ConsoleRuntime, Depends(console_runtime)]
T = TypeVar("T")

_READ = problems(401, 403, 422)
_ONE = problems(401, 403, 404, 422)
_WRITE = problems(401, 403, 404, 409, 422)


async def _run(state: RouterState, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        return await in_transaction(state.sessions, work)
    except IntegrityError:
        # A race the checks could not see (a duplicate name, a row still referenced).
        raise Conflict("the change conflicts with existing data") from None


async def _read(state: RouterState, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with state.sessions() as session:
        return await work(session)


@router.get(
    "/queues",
    operation_id="queues_overview",
    summary="Queues: backlog, oldest waiting, serving agents and their load",
    response_model=list[QueueOverview],
    responses=problems(401, 403),
)
async def queues_overview(principal: Supervisor, state: State) -> list[QueueOverview]:
    return await _read(state, lambda s: queues.overview(s, utcnow()))


@router.get(
    "/queues/{queue_id}",
    operation_id="queues_get",
    summary="A queue's configuration",
    response_model=QueueOut,
    responses=_ONE,
)
async def get_queue(queue_id: uuid.UUID, principal: Supervisor, state: State) -> QueueOut:
    queue = await _read(state, lambda s: queues.get_queue(s, queue_id))
    return QueueOut.model_validate(queue)


@router.post(
    "/queues",
    operation_id="queues_create",
    summary="Create a queue",
    status_code=status.HTTP_201_CREATED,
    response_model=QueueOut,
    responses=problems(401, 403, 409, 422),
)
async def create_queue(body: QueueCreate, principal: Admin, state: State) -> QueueOut:
    return await _run(state, lambda s: queues.create_queue(s, body, actor=principal.label))


@router.patch(
    "/queues/{queue_id}",
    operation_id="queues_update",
    summary="Change a queue (skills, language, priority, business hours, overflow, name)",
    response_model=QueueOut,
    responses=_WRITE,
)
async def update_queue(
    queue_id: uuid.UUID, body: QueueUpdate, principal: Admin, state: State
) -> QueueOut:
    return await _run(
        state, lambda s: queues.update_queue(s, queue_id, body, actor=principal.label)
    )


@router.delete(
    "/queues/{queue_id}",
    operation_id="queues_delete",
    summary="Delete a queue nothing routes to and no conversation belongs to",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_WRITE,
)
async def delete_queue(queue_id: uuid.UUID, principal: Admin, state: State) -> Response:
    await _run(state, lambda s: queues.delete_queue(s, queue_id, actor=principal.label))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/agents",
    operation_id="agents_list",
    summary="Agents with skills, languages, load per channel and queues served",
    response_model=list[AgentDetail],
    responses=problems(401, 403),
)
async def list_agents(principal: Supervisor, state: State) -> list[AgentDetail]:
    return await _read(state, agents.list_agents)


@router.get(
    "/agents/{agent_id}",
    operation_id="agents_get",
    summary="One agent",
    response_model=AgentDetail,
    responses=_ONE,
)
async def get_agent(agent_id: uuid.UUID, principal: Supervisor, state: State) -> AgentDetail:
    async def work(session: AsyncSession) -> AgentDetail:
        [detail] = await agents.describe(session, [await agents.get_agent(session, agent_id)])
        return detail

    return await _read(state, work)


@router.post(
    "/agents",
    operation_id="agents_create",
    summary="Create an agent",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentDetail,
    responses=problems(401, 403, 409, 422),
)
async def create_agent(body: AgentCreate, principal: Admin, state: State) -> AgentDetail:
    return await _run(state, lambda s: agents.create_agent(s, body, actor=principal.label))


@router.patch(
    "/agents/{agent_id}",
    operation_id="agents_update",
    summary="Change an agent (name, skills, languages, capacity per channel, queues)",
    response_model=AgentDetail,
    responses=_WRITE,
)
async def update_agent(
    agent_id: uuid.UUID,
    body: AgentUpdate,
    principal: Admin,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> AgentDetail:
    detail = await _run(
        state, lambda s: agents.update_agent(s, agent_id, body, actor=principal.label)
    )
    background.add_task(runtime.drains.after_commit)
    return detail


@router.delete(
    "/agents/{agent_id}",
    operation_id="agents_delete",
    summary="Delete an agent with no conversation history",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_WRITE,
)
async def delete_agent(agent_id: uuid.UUID, principal: Admin, state: State) -> Response:
    await _run(state, lambda s: agents.delete_agent(s, agent_id, actor=principal.label))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/routing-policy",
    operation_id="routing_policy_get",
    summary="The active routing policy",
    response_model=PolicyVersion,
    responses=problems(401, 403),
)
async def get_policy(principal: Supervisor, state: State) -> PolicyVersion:
    return await _read(state, policy.current)


@router.get(
    "/routing-policy/versions",
    operation_id="routing_policy_versions",
    summary="Stored versions of the routing policy, newest first, with who made them",
    response_model=list[PolicyVersion],
    responses=_READ,
)
async def policy_versions(
    principal: Supervisor, state: State, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[PolicyVersion]:
    return await _read(state, lambda s: policy.history(s, limit))


@router.put(
    "/routing-policy",
    operation_id="routing_policy_put",
    summary="Publish a new routing policy version (refused with every problem when invalid)",
    response_model=PolicyVersion,
    responses=problems(401, 403, 409, 422),
)
async def put_policy(body: PolicyDraft, principal: Admin, state: State) -> PolicyVersion:
    return await _run(state, lambda s: policy.publish(s, body, principal.label))


@router.post(
    "/routing-policy/versions/{version}/restore",
    operation_id="routing_policy_restore",
    summary="Make a new active version whose document is this version's, saying why",
    response_model=PolicyVersion,
    responses=_WRITE,
)
async def restore_policy(
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: PolicyRestore,
    principal: Admin,
    state: State,
) -> PolicyVersion:
    return await _run(state, lambda s: policy.restore(s, version, body.reason, principal.label))


@router.post(
    "/routing-policy/dry-run",
    operation_id="routing_policy_dry_run",
    summary="Route a sample conversation (with the active policy or a draft), changing nothing",
    response_model=DryRunAnswer,
    responses=_READ,
)
async def dry_run_policy(body: DryRunRequest, principal: Supervisor, state: State) -> DryRunAnswer:
    return await _read(state, lambda s: policy.dry_run(s, body, utcnow()))


async def _assign(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    conversation_id: uuid.UUID,
    body: AssignRequest,
) -> Conversation:
    now = utcnow()
    conversation = await load_visible(session, principal, conversation_id, lock=True)
    if conversation.status != ConversationStatus.OPEN:
        raise Conflict("the conversation is resolved; reopen it first")
    actor, actor_id = actor_of(principal)
    await redirect(
        session,
        settings,
        conversation,
        now,
        queue_id=body.queue_id,
        agent_id=body.agent_id,
        accepted=True,
        change=Change.REASSIGNED,
        actor=actor,
        actor_id=actor_id,
        reason=body.reason
        or ("moved by a supervisor" if body.queue_id else "assigned by a supervisor"),
    )
    return conversation


@router.post(
    "/conversations/{conversation_id}/assign",
    operation_id="conversations_assign",
    summary="Force-assign to an agent (accepted, within capacity) or move to a queue",
    response_model=ConversationSummary,
    responses=_WRITE,
)
async def assign(
    conversation_id: uuid.UUID,
    body: AssignRequest,
    principal: Supervisor,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> ConversationSummary:
    conversation = await _run(
        state, lambda s: _assign(s, state.settings, principal, conversation_id, body)
    )
    background.add_task(runtime.drains.after_commit)
    return ConversationSummary.model_validate(conversation)
