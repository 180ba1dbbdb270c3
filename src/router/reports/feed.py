"""Feeds the wait and first-response histograms from what the database measured.

The measures are recorded by the database's triggers, whoever wrote the change; each one is
also queued in `measure_observations`. The sweeps drain that queue here: every observation
goes to exactly one process's histograms (SKIP LOCKED), so the fleet's sum counts it once.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.observability.metrics import FIRST_RESPONSE_SECONDS, WAIT_SECONDS

_DRAIN = """
WITH taken AS (
    DELETE FROM measure_observations
    WHERE id IN (SELECT id FROM measure_observations ORDER BY id LIMIT :limit
                 FOR UPDATE SKIP LOCKED)
    RETURNING measure, queue_id, channel, seconds
)
SELECT t.measure, coalesce(q.name, 'none'), t.channel, t.seconds
FROM taken t LEFT JOIN queues q ON q.id = t.queue_id
"""

_WAITS = {"wait_offer": "offer", "wait_accept": "accept"}


async def feed_histograms(session: AsyncSession, limit: int = 5000) -> int:
    """Observe up to `limit` queued measures in this process's histograms; how many."""
    rows = (await session.execute(text(_DRAIN), {"limit": limit})).all()
    for measure, queue, channel, seconds in rows:
        if measure == "first_response":
            FIRST_RESPONSE_SECONDS.labels(queue, channel).observe(seconds)
        elif measure in _WAITS:
            WAIT_SECONDS.labels(queue, channel, _WAITS[measure]).observe(seconds)
    return len(rows)
