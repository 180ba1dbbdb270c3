"""`/v1/agents/{agent_id}/presence*` and `/v1/me/presence-history`: presence and its history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from router.admin import agents
from router.admin.schemas import AgentDetail
from router.auth.dependencies import Admin, CurrentPrincipal, Supervisor
from router.auth.errors import Forbidden
from router.console.runtime import ConsoleRuntime, console_runtime, router_state
from router.conversations import service as conversations
from router.db import in_transaction
from router.inbound.envelope import utcnow
from router.openapi import problems
from router.presence import history
from router.presence.schemas import AgentPresenceRequest, PresenceChangeOut, PresenceChangePage
from router.state import RouterState
from router.time_window import check_window

router = APIRouter(prefix="/v1", tags=["presence"])

State = Annotated[RouterState, Depends(router_state)]
Runtime = Annotated[ConsoleRuntime, Depends(console_runtime)]
Cursor = Annotated[str | None, Query(max_length=512)]
Limit = Annotated[int, Query(ge=1, le=200)]
Since = Annotated[
    datetime | None,
    Query(description="Changes at or after this moment (with a time zone)"),
]
Until = Annotated[
    datetime | None,
    Query(description="Changes before this moment (with a time zone)"),
]


@dataclass(frozen=True)
class HistoryQuery:
    """What a presence history read asks for: a time window and a page of it."""

    since: datetime | None
    until: datetime | None
    cursor: str | None
    limit: int

    def window(self) -> history.HistoryWindow:
        """The window asked for; 422 for a moment without a time zone or one reversed."""
        check_window(self.since, self.until)
        return history.HistoryWindow(since=self.since, until=self.until)


def _history_query(
    since: Since = None, until: Until = None, cursor: Cursor = None, limit: Limit = 50
) -> HistoryQuery:
    return HistoryQuery(since=since, until=until, cursor=cursor, limit=limit)


PageOfHistory = Annotated[HistoryQuery, Depends(_history_query)]


async def _page(state: RouterState, agent_id: uuid.UUID, query: HistoryQuery) -> PresenceChangePage:
    # The window is checked before the agent is looked up: a bad query is a 422 even for
    # an agent that does not exist.
    window = query.window()
    async with state.sessions() as session:
        await agents.get_agent(session, agent_id)  # 404 for an agent that does not exist
        rows, following = await history.page(session, agent_id, window, query.cursor, query.limit)
    return PresenceChangePage(
        items=[PresenceChangeOut.model_validate(row) for row in rows], next_cursor=following
    )


@router.get(
    "/agents/{agent_id}/presence-history",
    operation_id="agents_presence_history",
    summary="An agent's presence changes, newest first (supervisors and admins)",
    response_model=PresenceChangePage,
    responses=problems(401, 403, 404, 422),
)
async def agent_presence_history(
    agent_id: uuid.UUID, principal: Supervisor, state: State, query: PageOfHistory
) -> PresenceChangePage:
    return await _page(state, agent_id, query)


@router.get(
    "/me/presence-history",
    operation_id="me_presence_history",
    summary="My presence changes, newest first",
    response_model=PresenceChangePage,
    responses=problems(401, 403, 422),
)
async def my_presence_history(
    principal: CurrentPrincipal, state: State, query: PageOfHistory
) -> PresenceChangePage:
    if principal.agent_id is None:
        raise Forbidden("only a key bound to an agent has a presence")
    return await _page(state, principal.agent_id, query)


@router.put(
    "/agents/{agent_id}/presence",
    operation_id="agents_set_presence",
    summary="Set an agent's presence (admins); leaving online hands unaccepted offers back",
    response_model=AgentDetail,
    responses=problems(401, 403, 404, 422),
)
async def set_agent_presence(
    agent_id: uuid.UUID,
    body: AgentPresenceRequest,
    principal: Admin,
    state: State,
    background: BackgroundTasks,
    runtime: Runtime,
) -> AgentDetail:
    async def work(session: AsyncSession) -> AgentDetail:
        await conversations.set_presence(
            session,
            state.settings,
            agent_id,
            body.presence,
            utcnow(),
            actor=principal.label,
            reason=body.reason,
        )
        [detail] = await agents.describe(session, [await agents.get_agent(session, agent_id)])
        return detail

    detail = await in_transaction(state.sessions, work)
    background.add_task(runtime.drains.after_commit)
    return detail
