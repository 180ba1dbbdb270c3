"""`/v1/feedback`: the answers (supervisors) and the survey settings (admins change them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.dependencies import Admin, Supervisor
from router.console.runtime import router_state
from router.db import in_transaction
from router.feedback import queries, settings_store
from router.feedback.policy import SurveySettings
from router.feedback.schemas import FeedbackOut, FeedbackPage, SurveySettingsVersion
from router.inbound.envelope import utcnow
from router.openapi import problems
from router.state import RouterState
from router.time_window import check_window

router = APIRouter(prefix="/v1", tags=["feedback"])

State = Annotated[RouterState, Depends(router_state)]


def _out(found: settings_store.SettingsVersion) -> SurveySettingsVersion:
    return SurveySettingsVersion(
        version=found.version,
        created_by=found.created_by,
        created_at=found.created_at,
        settings=found.settings,
    )


@router.get(
    "/feedback",
    operation_id="feedback_list",
    summary="Customers' answers to surveys, newest first (supervisors and admins)",
    response_model=FeedbackPage,
    responses=problems(401, 403, 422),
)
async def list_feedback(
    principal: Supervisor,
    state: State,
    queue_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    since: Annotated[
        datetime | None, Query(description="answers at or after this moment (with a time zone)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="answers before this moment (with a time zone)")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FeedbackPage:
    check_window(since, until)
    wanted = queries.FeedbackFilter(queue_id=queue_id, agent_id=agent_id, since=since, until=until)
    async with state.sessions() as session:
        rows, following = await queries.page(session, wanted, cursor, limit)
    return FeedbackPage(
        items=[FeedbackOut.model_validate(row) for row in rows], next_cursor=following
    )


@router.get(
    "/feedback/settings",
    operation_id="feedback_settings_get",
    summary="The survey settings in force (supervisors and admins)",
    response_model=SurveySettingsVersion,
    responses=problems(401, 403),
)
async def get_settings(principal: Supervisor, state: State) -> SurveySettingsVersion:
    async with state.sessions() as session:
        return _out(await settings_store.current(session))


@router.put(
    "/feedback/settings",
    operation_id="feedback_settings_put",
    summary="Save new survey settings (admins): a new version, in force at once",
    response_model=SurveySettingsVersion,
    responses=problems(401, 403, 422),
)
async def put_settings(
    body: SurveySettings, principal: Admin, state: State
) -> SurveySettingsVersion:
    async def work(session: AsyncSession) -> settings_store.SettingsVersion:
        return await settings_store.save(session, body, principal.label, utcnow())

    return _out(await in_transaction(state.sessions, work))
