"""The reports: measures per conversation read per bucket and group, and agents' occupancy.

Reads only the measure tables the database keeps as things happen (see
`router.models.reports`); it never replays the history.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from router.reports import occupancy, queries
from router.reports.queries import Aggregate
from router.reports.schemas import (
    ConversationReport,
    ConversationReportRow,
    OccupancyReport,
    OccupancyRow,
    Spread,
)
from router.reports.window import Grouping, ReportWindow

_SPREADS = (
    "wait_until_offer",
    "wait_until_accept",
    "first_response",
    "next_response",
    "handle",
    "resolution",
)


async def conversation_report(
    session: AsyncSession, window: ReportWindow, grouping: Grouping
) -> ConversationReport:
    """Volumes, times and rates per bucket and queue, agent or channel, in the window."""
    cells = await queries.aggregates(session, window, grouping)
    labels = await queries.names(session, grouping, [key for _, key in cells])
    zone = ZoneInfo(window.tz)
    rows = [
        _row(bucket.astimezone(zone), key, labels.get(key) if key else None, measures)
        for (bucket, key), measures in sorted(
            cells.items(), key=lambda item: (item[0][0], item[0][1] or "\uffff")
        )
    ]
    return ConversationReport(
        start=window.start,
        end=window.end,
        tz=window.tz,
        bucket=window.bucket,
        by=grouping,
        rows=rows,
    )


def _row(
    bucket: datetime, key: str | None, name: str | None, measures: dict[str, Aggregate]
) -> ConversationReportRow:
    def count(measure: str) -> int:
        found = measures.get(measure)
        return found.count if found else 0

    def total(measure: str) -> int:
        found = measures.get(measure)
        return round(found.total or 0) if found else 0

    created = count("created")
    return ConversationReportRow(
        bucket_start=bucket,
        group=key,
        name=name,
        created=created,
        resolved=count("resolution"),
        abandoned=count("abandoned"),
        abandonment_rate=total("abandoned_of_created") / created if created else None,
        transfers=total("transfers"),
        reopens=total("reopens"),
        **{measure: _spread(measures.get(measure)) for measure in _SPREADS},
    )


def _spread(found: Aggregate | None) -> Spread:
    if found is None or not found.count:
        return Spread(count=0, p50_seconds=None, p90_seconds=None)
    return Spread(
        count=found.count,
        p50_seconds=_seconds(found.p50),
        p90_seconds=_seconds(found.p90),
    )


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def occupancy_report(
    session: AsyncSession, window: ReportWindow, now: datetime
) -> OccupancyReport:
    """Each agent's time online and time holding work while online, per bucket."""
    zone = ZoneInfo(window.tz)
    rows = [
        OccupancyRow(
            bucket_start=found.bucket.astimezone(zone),
            agent_id=found.agent_id,
            handle=found.handle,
            online_seconds=round(found.online_seconds, 3),
            busy_seconds=round(found.busy_seconds, 3),
            occupancy=(
                round(found.busy_seconds / found.online_seconds, 4)
                if found.online_seconds > 0
                else None
            ),
        )
        for found in await occupancy.occupancy(session, window, now)
    ]
    return OccupancyReport(
        start=window.start, end=window.end, tz=window.tz, bucket=window.bucket, rows=rows
    )
