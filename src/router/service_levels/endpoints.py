"""The SLA policy under `/v1/sla-policy`: supervisors read it, administrators publish it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from router.auth.dependencies import Admin, Supervisor
from router.console.runtime import router_state
from router.db import in_transaction
from router.openapi import problems
from router.service_levels import versions
from router.service_levels.versions import SlaPolicyDraft, SlaPolicyView
from router.state import RouterState

router = APIRouter(prefix="/v1", tags=["administration"])

State = Annotated[RouterState, Depends(router_state)]


@router.get(
    "/sla-policy",
    operation_id="sla_policy_get",
    summary="The active SLA policy: response-time targets, first matching policy wins",
    response_model=SlaPolicyView,
    responses=problems(401, 403),
)
async def get_sla_policy(principal: Supervisor, state: State) -> SlaPolicyView:
    async with state.sessions() as session:
        return await versions.current(session)


@router.get(
    "/sla-policy/versions",
    operation_id="sla_policy_versions",
    summary="Stored versions of the SLA policy, newest first, with who made them",
    response_model=list[SlaPolicyView],
    responses=problems(401, 403, 422),
)
async def sla_policy_versions(
    principal: Supervisor, state: State, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[SlaPolicyView]:
    async with state.sessions() as session:
        return await versions.history(session, limit)


@router.put(
    "/sla-policy",
    operation_id="sla_policy_put",
    summary="Publish a new SLA policy version (refused with every problem when invalid)",
    response_model=SlaPolicyView,
    responses=problems(401, 403, 422),
)
async def put_sla_policy(body: SlaPolicyDraft, principal: Admin, state: State) -> SlaPolicyView:
    return await in_transaction(
        state.sessions, lambda session: versions.publish(session, body, principal.label)
    )
