"""The SQL behind the conversation report: one pass over each measure table in the window.

Every measure becomes a fact (bucket, group, measure, value); one GROUP BY then counts,
sums and takes the percentiles of each. Each table is read through its time index.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.reports.window import Grouping, ReportWindow


@dataclass(frozen=True)
class Aggregate:
    """One measure of one group in one bucket."""

    bucket: datetime
    key: str | None
    measure: str
    count: int
    total: float | None
    p50: float | None
    p90: float | None


# What a row is about, per table; all four tables carry the three columns.
_GROUP_COLUMNS = {
    Grouping.QUEUE: "queue_id",
    Grouping.AGENT: "agent_id",
    Grouping.CHANNEL: "channel",
}

_FACTS = """
SELECT date_trunc(:bucket, m.created_at, :tz) AS bucket, m.{group}::text AS key, f.measure,
       f.value
FROM conversation_metrics m
CROSS JOIN LATERAL (VALUES
    ('created', NULL::float8),
    ('transfers', m.transfers::float8),
    ('reopens', m.reopens::float8),
    ('abandoned_of_created', CASE WHEN m.abandoned_at IS NOT NULL THEN 1.0 ELSE 0.0 END),
    ('wait_until_offer', extract(epoch FROM m.first_offered_at - m.created_at)::float8),
    ('wait_until_accept', extract(epoch FROM m.first_accepted_at - m.created_at)::float8)
) AS f(measure, value)
WHERE m.created_at >= :start AND m.created_at < :end
  AND (f.value IS NOT NULL OR f.measure = 'created')
UNION ALL
SELECT date_trunc(:bucket, m.abandoned_at, :tz), m.{group}::text, 'abandoned', NULL
FROM conversation_metrics m
WHERE m.abandoned_at >= :start AND m.abandoned_at < :end
UNION ALL
SELECT date_trunc(:bucket, r.responded_at, :tz), r.{group}::text,
       CASE WHEN r.first THEN 'first_response' ELSE 'next_response' END, r.seconds
FROM conversation_responses r
WHERE r.responded_at >= :start AND r.responded_at < :end
UNION ALL
SELECT date_trunc(:bucket, s.resolved_at, :tz), s.{group}::text, f.measure, f.value
FROM conversation_resolutions s
CROSS JOIN LATERAL (VALUES
    ('resolution', s.resolution_seconds),
    ('handle', s.handle_seconds)
) AS f(measure, value)
WHERE s.resolved_at >= :start AND s.resolved_at < :end
  AND (f.value IS NOT NULL)
"""

_AGGREGATE = """
WITH facts AS ({facts})
SELECT bucket, key, measure, count(*) AS n, sum(value) AS total,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY value) AS p90
FROM facts
GROUP BY bucket, key, measure
ORDER BY bucket, key NULLS LAST, measure
"""


async def aggregates(
    session: AsyncSession, window: ReportWindow, grouping: Grouping
) -> list[Aggregate]:
    """Every measure's count, sum and percentiles, per bucket and group, in the window."""
    statement = _AGGREGATE.format(facts=_FACTS.format(group=_GROUP_COLUMNS[grouping]))
    rows = await session.execute(text(statement), _parameters(window))
    return [
        Aggregate(
            bucket=row[0],
            key=row[1],
            measure=row[2],
            count=row[3],
            total=row[4],
            p50=row[5],
            p90=row[6],
        )
        for row in rows
    ]


def _parameters(window: ReportWindow) -> dict[str, Any]:
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
