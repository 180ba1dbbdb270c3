"""Occupancy per agent: the time they held work while online, over the time they were online.

Online time comes from the presence history; held work from the resolutions' handling
intervals and the conversations held right now. Overlapping conversations count once: the
intervals are merged as PostgreSQL multiranges, then cut into the report's buckets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.reports.window import ReportWindow


@dataclass(frozen=True)
class AgentOccupancy:
    """One agent in one bucket."""

    bucket: datetime
    agent_id: uuid.UUID
    handle: str
    online_seconds: float
    busy_seconds: float


_OCCUPANCY = """
WITH asked AS (
    SELECT CAST(:start AS timestamptz) AS start_at, CAST(:end AS timestamptz) AS end_at
), buckets AS MATERIALIZED (
    SELECT b AS starts, date_add(b, ('1 ' || :bucket)::interval, :tz) AS ends
    FROM asked, generate_series(date_trunc(:bucket, start_at, :tz),
                                end_at - interval '1 microsecond',
                                ('1 ' || :bucket)::interval, :tz) AS b
), changes AS (
    SELECT agent_id, changed_at, to_presence, id FROM presence_changes
    WHERE changed_at >= :start AND changed_at < :end
    UNION ALL
    -- Where each agent stood when the window opened: their last change before it.
    SELECT last.* FROM agents a CROSS JOIN LATERAL (
        SELECT p.agent_id, p.changed_at, p.to_presence, p.id FROM presence_changes p
        WHERE p.agent_id = a.id AND p.changed_at < :start
        ORDER BY p.changed_at DESC, p.id DESC LIMIT 1
    ) last
), spans AS (
    SELECT agent_id, to_presence, greatest(changed_at, :start) AS since,
           least(coalesce(lead(changed_at) OVER (PARTITION BY agent_id ORDER BY changed_at, id),
                          :now), :end) AS until
    FROM changes
), online AS MATERIALIZED (
    SELECT agent_id, range_agg(tstzrange(since, until)) AS ranges
    FROM spans WHERE to_presence = 'online' AND since < until
    GROUP BY agent_id
), held AS MATERIALIZED (
    SELECT agent_id, range_agg(span) AS ranges FROM (
        SELECT agent_id, tstzrange(handled_from, resolved_at) AS span
        FROM conversation_resolutions
        WHERE resolved_at > :start AND handled_from < :end AND agent_id IS NOT NULL
          AND handled_from < resolved_at
        UNION ALL
        SELECT c.agent_id, tstzrange(m.holding_since, :now)
        FROM conversations c JOIN conversation_metrics m ON m.conversation_id = c.id
        WHERE c.status = 'open' AND c.agent_id IS NOT NULL AND c.offer_state = 'accepted'
          AND m.holding_since < :now
    ) spans_held
    GROUP BY agent_id
), busy AS MATERIALIZED (
    SELECT o.agent_id, o.ranges, coalesce(h.ranges * o.ranges, '{}'::tstzmultirange) AS held
    FROM online o LEFT JOIN held h USING (agent_id)
)
SELECT b.starts, u.agent_id, a.handle,
       coalesce((SELECT sum(extract(epoch FROM upper(x) - lower(x)))
                 FROM unnest(u.ranges * tstzmultirange(tstzrange(b.starts, b.ends))) x), 0),
       coalesce((SELECT sum(extract(epoch FROM upper(x) - lower(x)))
                 FROM unnest(u.held * tstzmultirange(tstzrange(b.starts, b.ends))) x), 0)
FROM busy u
JOIN agents a ON a.id = u.agent_id
CROSS JOIN buckets b
WHERE u.ranges && tstzrange(b.starts, b.ends)
ORDER BY b.starts, a.handle
"""


async def occupancy(
    session: AsyncSession, window: ReportWindow, now: datetime
) -> list[AgentOccupancy]:
    """Each agent's online and busy seconds per bucket (only buckets they were online in)."""
    rows = await session.execute(
        text(_OCCUPANCY),
        {
            "bucket": window.bucket.value,
            "tz": window.tz,
            "start": window.start,
            "end": window.end,
            "now": now,
        },
    )
    return [
        AgentOccupancy(
            bucket=row[0],
            agent_id=row[1],
            handle=row[2],
            online_seconds=float(row[3]),
            busy_seconds=float(row[4]),
        )
        for row in rows
    ]
