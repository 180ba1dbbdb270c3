"""The refresher of the report days: consumes the noted changes, forgets the kept days they
touch and computes the missing days of every view asked for (see `router.reports.days`).

One process at a time: every transaction that consumes notes or keeps days holds an
advisory lock, so a day computed while a change was being written is always forgotten
again by that change's note.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import in_transaction
from router.reports import histogram, outcomes, queries
from router.reports.days import LocalDay, local_days
from router.reports.outcomes import Tallies
from router.reports.queries import Cells, Histograms
from router.reports.window import Bucket, Grouping, ReportWindow

# One refresher at a time, across every process that sweeps.
_REFRESH_LOCK = 7_260_003
# A view nobody asked for in this long is forgotten, with its days.
VIEW_IDLE = timedelta(days=30)
# The most days one transaction of the refresher computes.
_RUN_DAYS = 7

# The stored form: measures {group or "": {"a": {measure: [count, total, p50, p90]},
#                                         "t": {kind: [count, total, top, bottom]}}},
# and the histograms as `histogram.encode` has them, keyed [group or "", measure].


def _encode(
    day_start: datetime, cells: Cells, tallies: Tallies, bins: Histograms
) -> tuple[str, str, bytes]:
    measures: dict[str, dict[str, Any]] = {}
    for (bucket, key), aggregates in cells.items():
        if bucket == day_start:
            measures.setdefault(key or "", {})["a"] = {
                name: [found.count, found.total, found.p50, found.p90]
                for name, found in aggregates.items()
            }
    for (bucket, key), tallied in tallies.items():
        if bucket == day_start:
            measures.setdefault(key or "", {})["t"] = {
                name: [found.count, found.total, found.top, found.bottom]
                for name, found in tallied.items()
            }
    keys, stored = histogram.encode(
        {
            (key or "", name): counts
            for (bucket, key), per_measure in bins.items()
            if bucket == day_start
            for name, counts in per_measure.items()
        }
    )
    return orjson.dumps(measures).decode(), orjson.dumps(keys).decode(), stored


_CONSUME = """
WITH consumed AS (DELETE FROM report_changes RETURNING hour)
SELECT DISTINCT hour FROM consumed
"""
_FORGET_TOUCHED = """
DELETE FROM report_days d USING unnest(CAST(:hours AS timestamptz[])) AS h(hour)
WHERE h.hour < d.day_end AND h.hour + interval '1 hour' > d.day_start
"""
_FORGET_IDLE_VIEWS = "DELETE FROM report_views WHERE requested_at < :idle_since"
_FORGET_OLD_DAYS = "DELETE FROM report_days WHERE day_end <= :oldest"
_VIEWS = "SELECT tz, by FROM report_views ORDER BY requested_at DESC"
_STORED = "SELECT day_start FROM report_days WHERE tz = :tz AND by = :by AND day_start >= :oldest"
_KEEP = """
INSERT INTO report_days (tz, by, day_start, day_end, computed_at, measures, bin_keys, bins)
SELECT :tz, :by, * FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                               CAST(:computed AS timestamptz[]), CAST(:measures AS text[]),
                               CAST(:bin_keys AS text[]), CAST(:bins AS bytea[]))
ON CONFLICT (tz, by, day_start) DO UPDATE SET
    day_end = excluded.day_end, computed_at = excluded.computed_at,
    measures = excluded.measures, bin_keys = excluded.bin_keys, bins = excluded.bins
"""


async def _leader(session: AsyncSession) -> bool:
    return bool(await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_REFRESH_LOCK})")))


async def consume_changes(session: AsyncSession, now: datetime, keep: timedelta) -> int | None:
    """Consume the noted changes, forgetting the kept days they touch, idle views and days
    older than `keep`. None when another process is refreshing; else how many hours."""
    if not await _leader(session):
        return None
    hours = [row[0] for row in await session.execute(text(_CONSUME))]
    if hours:
        await session.execute(text(_FORGET_TOUCHED), {"hours": hours})
    await session.execute(text(_FORGET_IDLE_VIEWS), {"idle_since": now - VIEW_IDLE})
    await session.execute(text(_FORGET_OLD_DAYS), {"oldest": now - keep})
    return len(hours)


async def missing_days(
    session: AsyncSession, *, tz: str, grouping: Grouping, now: datetime, keep: timedelta
) -> list[LocalDay]:
    """The view's ended days within `keep` that are not kept, newest first."""
    oldest = now - keep
    days = [day for day in await local_days(session, oldest, now, tz) if day.start >= oldest]
    stored = {
        row[0]
        for row in await session.execute(
            text(_STORED), {"tz": tz, "by": grouping.value, "oldest": oldest}
        )
    }
    return [day for day in reversed(days) if day.end <= now and day.start not in stored]


async def keep_days(
    session: AsyncSession, tz: str, grouping: Grouping, days: Sequence[LocalDay], now: datetime
) -> bool:
    """Compute and keep these adjacent days of the view (oldest first); False when another
    process is refreshing."""
    if not days or not await _leader(session):
        return False
    piece = ReportWindow(start=days[0].start, end=days[-1].end, tz=tz, bucket=Bucket.DAY)
    cells = await queries.aggregates(session, piece, grouping)
    tallies = await outcomes.tallies(session, piece, grouping)
    bins = await queries.histograms(session, piece, grouping)
    encoded = [_encode(day.start, cells, tallies, bins) for day in days]
    await session.execute(
        text(_KEEP),
        {
            "tz": tz,
            "by": grouping.value,
            "starts": [day.start for day in days],
            "ends": [day.end for day in days],
            "computed": [now for _ in days],
            "measures": [measures for measures, _, _ in encoded],
            "bin_keys": [keys for _, keys, _ in encoded],
            "bins": [stored for _, _, stored in encoded],
        },
    )
    return True


async def refresh(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    keep: timedelta,
    budget_seconds: float,
) -> int:
    """One round: consume the noted changes, then compute missing days of every view, the
    most recently wanted first and the newest days first, until `budget_seconds` are spent.
    How many days were computed."""
    if await in_transaction(sessions, lambda s: consume_changes(s, now, keep)) is None:
        return 0
    deadline = time.monotonic() + budget_seconds
    computed = 0

    async def views(session: AsyncSession) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in await session.execute(text(_VIEWS))]

    for tz, by in await in_transaction(sessions, views):
        grouping = Grouping(by)
        find = partial(missing_days, tz=tz, grouping=grouping, now=now, keep=keep)
        for run in _adjacent_runs(await in_transaction(sessions, find)):
            if time.monotonic() > deadline:
                return computed
            compute = partial(_compute, tz=tz, grouping=grouping, days=run, now=now)
            if not await in_transaction(sessions, compute):
                return computed
            computed += len(run)
    return computed


async def _compute(
    session: AsyncSession, *, tz: str, grouping: Grouping, days: Sequence[LocalDay], now: datetime
) -> bool:
    await queries.tune_for_reports(session)
    return await keep_days(session, tz, grouping, days, now)


def _adjacent_runs(newest_first: Sequence[LocalDay]) -> list[list[LocalDay]]:
    """Runs of at most `_RUN_DAYS` adjacent days, newest run first, each oldest first."""
    runs: list[list[LocalDay]] = []
    for day in newest_first:
        if runs and len(runs[-1]) < _RUN_DAYS and runs[-1][0].start == day.end:
            runs[-1].insert(0, day)
        else:
            runs.append([day])
    return runs
