"""The SQL behind the conversation report: one aggregate per measure table in the window.

Each table is read once through its time index and grouped by (bucket, group); both
percentiles of a duration come from one sort (`percentile_cont` over an array of fractions).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.reports.histogram import SQL_BIN, Bins
from router.reports.window import Grouping, ReportWindow


@dataclass(slots=True)
class Aggregate:
    """One measure of one group in one bucket: how many, their sum, their p50 and p90.

    Slotted, not frozen: a month's report by agent builds tens of thousands of them.
    """

    count: int
    total: float | None = None
    p50: float | None = None
    p90: float | None = None


Cells = dict[tuple[datetime, str | None], dict[str, Aggregate]]

# What a row is about, per table; all four tables carry the three columns.
_GROUP_COLUMNS = {
    Grouping.QUEUE: "queue_id",
    Grouping.AGENT: "agent_id",
    Grouping.CHANNEL: "channel",
}

_SPREAD = "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {value})"

_CREATED = f"""
SELECT date_trunc(:bucket, created_at, :tz), {{group}}, count(*), sum(transfers),
       sum(reopens), count(abandoned_at),
       count(first_offered_at),
       {_SPREAD.format(value="extract(epoch FROM first_offered_at - created_at)")},
       count(first_accepted_at),
       {_SPREAD.format(value="extract(epoch FROM first_accepted_at - created_at)")}
FROM conversation_metrics
WHERE created_at >= :start AND created_at < :end
GROUP BY 1, 2
"""
_ABANDONED = """
SELECT date_trunc(:bucket, abandoned_at, :tz), {group}, count(*)
FROM conversation_metrics
WHERE abandoned_at >= :start AND abandoned_at < :end
GROUP BY 1, 2
"""
_RESPONSES = f"""
SELECT date_trunc(:bucket, responded_at, :tz), {{group}}, first, count(*),
       {_SPREAD.format(value="seconds")}
FROM conversation_responses
WHERE responded_at >= :start AND responded_at < :end
GROUP BY 1, 2, 3
"""
_RESOLUTIONS = f"""
SELECT date_trunc(:bucket, resolved_at, :tz), {{group}}, count(*),
       {_SPREAD.format(value="resolution_seconds")},
       count(handle_seconds), {_SPREAD.format(value="handle_seconds")}
FROM conversation_resolutions
WHERE resolved_at >= :start AND resolved_at < :end
GROUP BY 1, 2
"""


# Each duration's histogram: the same rows as above, counted per bin.
_CREATED_BINS = f"""
SELECT date_trunc(:bucket, m.created_at, :tz), m.{{group}}, w.measure,
       {SQL_BIN.format(value="w.seconds")}, count(*)
FROM conversation_metrics m
CROSS JOIN LATERAL (VALUES
    ('wait_until_offer', extract(epoch FROM m.first_offered_at - m.created_at)),
    ('wait_until_accept', extract(epoch FROM m.first_accepted_at - m.created_at))
) AS w(measure, seconds)
WHERE m.created_at >= :start AND m.created_at < :end AND w.seconds IS NOT NULL
GROUP BY 1, 2, 3, 4
"""
_RESPONSES_BINS = f"""
SELECT date_trunc(:bucket, responded_at, :tz), {{group}},
       CASE WHEN first THEN 'first_response' ELSE 'next_response' END,
       {SQL_BIN.format(value="seconds")}, count(*)
FROM conversation_responses
WHERE responded_at >= :start AND responded_at < :end
GROUP BY 1, 2, 3, 4
"""
_RESOLUTIONS_BINS = f"""
SELECT date_trunc(:bucket, r.resolved_at, :tz), r.{{group}}, w.measure,
       {SQL_BIN.format(value="w.seconds")}, count(*)
FROM conversation_resolutions r
CROSS JOIN LATERAL (VALUES
    ('resolution', r.resolution_seconds), ('handle', r.handle_seconds)
) AS w(measure, seconds)
WHERE r.resolved_at >= :start AND r.resolved_at < :end AND w.seconds IS NOT NULL
GROUP BY 1, 2, 3, 4
"""

Histograms = dict[tuple[datetime, str | None], dict[str, Bins]]


def _spread(count: int, percentiles: list[float] | None) -> Aggregate:
    if not count or percentiles is None:
        return Aggregate(count=0)
    return Aggregate(count=count, p50=percentiles[0], p90=percentiles[1])


async def tune_for_reports(session: AsyncSession) -> None:
    """Set up the session's transaction for reading a report's aggregates."""
    # Each group is sorted for its percentiles: in memory, not in temporary files.
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    # The statements are prepared and run again and again; a generic plan would not know how
    # long the window is. Each window is planned for its length, and with the measure tables'
    # pages cached, looking up a day's conversations by key is cheaper than the default cost
    # says: else the SLA clocks of an hour are joined to their conversations by reading every
    # conversation.
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    await session.execute(text("SET LOCAL random_page_cost = 1.1"))


async def aggregates(session: AsyncSession, window: ReportWindow, grouping: Grouping) -> Cells:
    """Every measure's count, sum or percentiles, per (bucket, group), in the window.

    Call `tune_for_reports` first, in the same transaction.
    """
    group = _GROUP_COLUMNS[grouping]
    bounds = parameters(window)
    cells: Cells = defaultdict(dict)

    async def rows(statement: str) -> list[Any]:
        found = await session.execute(text(statement.format(group=group)), bounds)
        return [(row[0], None if row[1] is None else str(row[1]), *row[2:]) for row in found]

    for row in await rows(_CREATED):
        cell = cells[(row[0], row[1])]
        cell["created"] = Aggregate(count=row[2])
        cell["transfers"] = Aggregate(count=row[2], total=row[3])
        cell["reopens"] = Aggregate(count=row[2], total=row[4])
        cell["abandoned_of_created"] = Aggregate(count=row[2], total=row[5])
        cell["wait_until_offer"] = _spread(row[6], row[7])
        cell["wait_until_accept"] = _spread(row[8], row[9])
    for row in await rows(_ABANDONED):
        cells[(row[0], row[1])]["abandoned"] = Aggregate(count=row[2])
    for row in await rows(_RESPONSES):
        measure = "first_response" if row[2] else "next_response"
        cells[(row[0], row[1])][measure] = _spread(row[3], row[4])
    for row in await rows(_RESOLUTIONS):
        cell = cells[(row[0], row[1])]
        cell["resolution"] = _spread(row[2], row[3])
        cell["handle"] = _spread(row[4], row[5])
    return cells


async def histograms(session: AsyncSession, window: ReportWindow, grouping: Grouping) -> Histograms:
    """Each duration's histogram per (bucket, group) in the window (see `histogram`)."""
    group = _GROUP_COLUMNS[grouping]
    bounds = parameters(window)
    found: Histograms = defaultdict(lambda: defaultdict(dict))
    for statement in (_CREATED_BINS, _RESPONSES_BINS, _RESOLUTIONS_BINS):
        rows = await session.execute(text(statement.format(group=group)), bounds)
        for bucket, key, measure, index, count in rows:
            found[(bucket, None if key is None else str(key))][measure][index] = count
    return found


def parameters(window: ReportWindow) -> dict[str, Any]:
    """The window as the statements' bind parameters."""
    return {
        "bucket": window.bucket.value,
        "tz": window.tz,
        "start": window.start,
        "end": window.end,
    }


async def names(
    session: AsyncSession, grouping: Grouping, keys: Sequence[str | None]
) -> dict[str, str]:
    """The queue names or agent handles of the groups; a channel is its own name."""
    if grouping is Grouping.CHANNEL:
        return {key: key for key in keys if key is not None}
    ids = [uuid.UUID(key) for key in keys if key is not None]
    if not ids:
        return {}
    table, column = ("queues", "name") if grouping is Grouping.QUEUE else ("agents", "handle")
    rows = await session.execute(
        text(f"SELECT id::text, {column} FROM {table} WHERE id = ANY(:ids)"), {"ids": ids}
    )
    return {row[0]: row[1] for row in rows}
