"""`/v1/reports/...`: conversation measures and agents' occupancy (supervisors and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from router.auth.dependencies import Supervisor
from router.console.runtime import router_state
from router.inbound.envelope import utcnow
from router.openapi import problems
from router.reports import service
from router.reports.schemas import (
    ConversationReport,
    ConversationReportRow,
    OccupancyReport,
    OccupancyRow,
)
from router.reports.tables import as_csv
from router.reports.window import Bucket, Grouping, ReportWindow
from router.state import RouterState

router = APIRouter(prefix="/v1/reports", tags=["reports"])

State = Annotated[RouterState, Depends(router_state)]
From = Annotated[datetime, Query(alias="from", description="The window's start (with a time zone)")]
To = Annotated[
    datetime,
    Query(alias="to", description="The window's end, excluded; at most 92 days after `from`"),
]
Zone = Annotated[
    str,
    Query(max_length=64, description="IANA time zone of the buckets, such as Europe/Berlin"),
]
Size = Annotated[Bucket, Query(description="Bucket size; boundaries are local to `tz`")]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="csv: the same rows as CSV (as does `Accept: text/csv`)"),
]

CSV = "text/csv; charset=utf-8"
_CSV_RESPONSE = {"content": {"text/csv": {"schema": {"type": "string"}}}}


def _wants_csv(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


@router.get(
    "/conversations",
    operation_id="reports_conversations",
    summary="Volumes, waits, response, handle and resolution times, abandonment, per bucket",
    description=(
        "One row per bucket and group. Hour and day buckets carry exact percentiles; a week's"
        " are read from its days' histograms, within 2.4 % of the exact ones. Past days are"
        " read from the kept report days when nothing in them changed since"
        " (docs/reports.md#report-days)."
    ),
    response_model=ConversationReport,
    responses={200: _CSV_RESPONSE, **problems(401, 403, 422)},
)
async def conversations_report(
    request: Request,
    principal: Supervisor,
    state: State,
    start: From,
    end: To,
    tz: Zone = "UTC",
    bucket: Size = Bucket.DAY,
    by: Annotated[Grouping, Query(description="One row per bucket and this")] = Grouping.QUEUE,
    format: Format = None,
) -> ConversationReport | Response:
    window = ReportWindow.checked(start, end, tz, bucket)
    async with state.sessions() as session:
        report = await service.conversation_report(session, window, by, utcnow())
    if _wants_csv(request, format):
        return Response(as_csv(ConversationReportRow, report.rows), media_type=CSV)
    return report


@router.get(
    "/occupancy",
    operation_id="reports_occupancy",
    summary="Each agent's time online and time holding work while online, per bucket",
    response_model=OccupancyReport,
    responses={200: _CSV_RESPONSE, **problems(401, 403, 422)},
)
async def occupancy_report(
    request: Request,
    principal: Supervisor,
    state: State,
    start: From,
    end: To,
    tz: Zone = "UTC",
    bucket: Size = Bucket.DAY,
    format: Format = None,
) -> OccupancyReport | Response:
    window = ReportWindow.checked(start, end, tz, bucket)
    async with state.sessions() as session:
        report = await service.occupancy_report(session, window, utcnow())
    if _wants_csv(request, format):
        return Response(as_csv(OccupancyRow, report.rows), media_type=CSV)
    return report
