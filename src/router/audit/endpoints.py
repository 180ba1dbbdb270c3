"""`GET /v1/audit`: who changed which agent, queue, key or policy, and when (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from router.audit import service
from router.audit.schemas import AuditEntryOut, AuditPage
from router.auth.dependencies import Admin
from router.console.runtime import router_state
from router.console.schemas import Text
from router.openapi import problems
from router.state import RouterState
from router.time_window import check_window

router = APIRouter(prefix="/v1", tags=["administration"])

State = Annotated[RouterState, Depends(router_state)]


@router.get(
    "/audit",
    operation_id="audit_list",
    summary="Administrators' changes, newest first: who, what, which subject, before and after",
    response_model=AuditPage,
    responses=problems(401, 403, 422),
)
async def audit_list(
    principal: Admin,
    state: State,
    subject_kind: service.Subject | None = None,
    subject_id: Annotated[Text | None, Query(max_length=200)] = None,
    since: Annotated[
        datetime | None, Query(description="Changes at or after this moment (with a time zone)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Changes before this moment (with a time zone)")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    check_window(since, until)
    wanted = service.AuditFilter(
        subject_kind=subject_kind, subject_id=subject_id, since=since, until=until
    )
    async with state.sessions() as session:
        rows, following = await service.page(session, wanted, cursor, limit)
    return AuditPage(
        items=[AuditEntryOut.model_validate(row) for row in rows], next_cursor=following
    )
