"""The reports: measures per conversation read per bucket and group, and agents' occupancy.

Reads only the measure tables the database keeps as things happen (see
`router.models.reports`); it never replays the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from router.reports import days, occupancy, outcomes, queries
from router.reports.outcomes import Tally
from router.reports.queries import Aggregate
from router.reports.schemas import (
    ConversationReport,
    OccupancyReport,
    OccupancyRow,
)
from router.reports.window import Bucket, Grouping, ReportWindow

_SPREADS = (
    "wait_until_offer",
    "wait_until_accept",
    "first_response",
    "next_response",
    "handle",
    "resolution",
)
_TARGETS = ("first_response", "next_response", "resolution")


async def conversation_report(
    session: AsyncSession, window: ReportWindow, grouping: Grouping, now: datetime
) -> ConversationReport:
    """Volumes, times and rates per bucket and queue, agent or channel, in the window.

    Hours are read from the measure tables; days and weeks from the kept report days where
    they are current (see `router.reports.days`), a week's percentiles from its days'
    histograms.
    """
    await queries.tune_for_reports(session)
    if window.bucket is Bucket.HOUR:
        cells = await queries.aggregates(session, window, grouping)
        tallies = await outcomes.tallies(session, window, grouping)
    else:
        weekly = window.bucket is Bucket.WEEK
        found = await days.assemble(session, window, grouping, now, with_bins=weekly)
        if weekly:
            cells, tallies = days.merged_weeks(found)
        else:
            cells, tallies = found.cells, found.tallies
    keys = sorted(set(cells) | set(tallies), key=lambda cell: (cell[0], cell[1] or "\uffff"))
    labels = await queries.names(session, grouping, [key for _, key in keys])
    zone = ZoneInfo(window.tz)
    rows = [
        _row(
            bucket.astimezone(zone),
            key,
            labels.get(key) if key else None,
            cells.get((bucket, key), {}),
            tallies.get((bucket, key), {}),
        )
        for bucket, key in keys
    ]
    # Validated in one pass over plain data: a month by agent is thousands of nested rows.
    return ConversationReport.model_validate(
        {
            "start": window.start,
            "end": window.end,
            "tz": window.tz,
            "bucket": window.bucket,
            "by": grouping,
            "rows": rows,
        }
    )


def _row(
    bucket: datetime,
    key: str | None,
    name: str | None,
    measures: dict[str, Aggregate],
    tallied: dict[str, Tally],
) -> dict[str, Any]:
    def count(measure: str) -> int:
        found = measures.get(measure)
        return found.count if found else 0

    def total(measure: str) -> int:
        found = measures.get(measure)
        return round(found.total or 0) if found else 0

    created = count("created")
    return {
        "bucket_start": bucket,
        "group": key,
        "name": name,
        "created": created,
        "resolved": count("resolution"),
        "abandoned": count("abandoned"),
        "abandonment_rate": total("abandoned_of_created") / created if created else None,
        "transfers": total("transfers"),
        "reopens": total("reopens"),
        **{measure: _spread(measures.get(measure)) for measure in _SPREADS},
        **{f"sla_{target}": _attainment(tallied.get(f"sla_{target}")) for target in _TARGETS},
        "csat": _satisfaction(tallied.get("csat")),
        "ces": _effort(tallied.get("ces")),
        "nps": _promoter_score(tallied.get("nps")),
    }


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _mean(found: Tally) -> float | None:
    return round(found.total / found.count, 3) if found.count else None


def _attainment(found: Tally | None) -> dict[str, Any]:
    found = found or Tally(count=0)
    return {
        "met": found.top,
        "breached": found.count - found.top,
        "attainment_percent": _percent(found.top, found.count),
    }


def _satisfaction(found: Tally | None) -> dict[str, Any]:
    found = found or Tally(count=0)
    return {
        "count": found.count,
        "mean": _mean(found),
        "satisfied_percent": _percent(found.top, found.count),
    }


def _effort(found: Tally | None) -> dict[str, Any]:
    found = found or Tally(count=0)
    return {"count": found.count, "mean": _mean(found)}


def _promoter_score(found: Tally | None) -> dict[str, Any]:
    found = found or Tally(count=0)
    score = round(100 * (found.top - found.bottom) / found.count, 2) if found.count else None
    return {
        "count": found.count,
        "promoters": found.top,
        "detractors": found.bottom,
        "score": score,
    }


def _spread(found: Aggregate | None) -> dict[str, Any]:
    if found is None or not found.count:
        return {"count": 0, "p50_seconds": None, "p90_seconds": None}
    return {
        "count": found.count,
        "p50_seconds": _seconds(found.p50),
        "p90_seconds": _seconds(found.p90),
    }


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
