"""Report days: the conversation report of each past local day, kept per time zone and
grouping, so that a report of weeks or months reads a row per day instead of every measure.

A day's row holds what the raw statements (`queries`, `outcomes`) answer for that day:
every group's counts, sums and exact percentiles, and each duration's histogram for merging
days into weeks. It is written only by the refresher, and only for days that have ended.

Staying right: every table a report reads has triggers that note, in the writer's
transaction, the UTC hours its changed rows are bucketed under (`report_changes`). A report
uses a kept day only when no noted hour overlaps it; everything else (today, a day cut by
the window's edges, a day with a change not yet consumed, a day not kept) is read from the
measure tables as before. The refresher, one process at a time (an advisory lock held by
every transaction that consumes notes or keeps days), consumes the notes, forgets the days
they overlap and computes the missing ones. A day computed without a change that committed
meanwhile is forgotten again by that change's note. Definitions: docs/reports.md.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import in_transaction
from router.reports import histogram, outcomes, queries
from router.reports.outcomes import Tallies, Tally
from router.reports.queries import Aggregate, Cells, Histograms
from router.reports.window import Bucket, Grouping, ReportWindow

log = logging.getLogger(__name__)

# One refresher at a time, across every process that sweeps.
_REFRESH_LOCK = 7_260_003
# A view nobody asked for in this long is forgotten, with its days.
VIEW_IDLE = timedelta(days=30)
# A report noting that its view is still wanted writes at most this often.
_VIEW_NOTED_EVERY = timedelta(hours=1)
# The most days one transaction of the refresher computes.
_RUN_DAYS = 7


@dataclass(frozen=True)
class LocalDay:
    """One local day of a time zone, in UTC, and the local week it belongs to."""

    start: datetime
    end: datetime
    week: datetime


Key = tuple[datetime, str | None]


@dataclass
class Assembled:
    """A window's report: per (local day, group) when by day, the aggregates and tallies as
    the raw statements answer them; per (local week, group) when by week, their counts and
    sums added up and the durations' histograms (keyed (week, group, measure))."""

    days: list[LocalDay]
    weekly: bool
    cells: Cells = field(default_factory=dict)
    tallies: Tallies = field(default_factory=dict)
    # By week: [count, total] per measure and [count, total, top, bottom] per tally.
    week_measures: dict[Key, dict[str, list[Any]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    week_tallies: dict[Key, dict[str, list[int]]] = field(default_factory=lambda: defaultdict(dict))
    weeks: histogram.Tally = field(default_factory=histogram.Tally)
    kept: int = 0

    def add_day(self, day: LocalDay, stored: str) -> None:
        """A kept day's measures (its stored form)."""
        for key, parts in orjson.loads(stored).items():
            group = key or None
            if self.weekly:
                _add_measures(self.week_measures[(day.week, group)], parts.get("a", {}))
                _add_tallies(self.week_tallies[(day.week, group)], parts.get("t", {}))
                continue
            if "a" in parts:
                self.cells[(day.start, group)] = {
                    name: Aggregate(*value) for name, value in parts["a"].items()
                }
            if "t" in parts:
                self.tallies[(day.start, group)] = {
                    name: Tally(*value) for name, value in parts["t"].items()
                }

    def add_read(self, week_of: dict[datetime, datetime], cells: Cells, tallies: Tallies) -> None:
        """What the raw statements answered for some days."""
        if not self.weekly:
            self.cells.update(cells)
            self.tallies.update(tallies)
            return
        for (day_start, group), aggregates in cells.items():
            _add_measures(
                self.week_measures[(week_of[day_start], group)],
                {name: (found.count, found.total) for name, found in aggregates.items()},
            )
        for (day_start, group), tallied in tallies.items():
            _add_tallies(
                self.week_tallies[(week_of[day_start], group)],
                {
                    name: (found.count, found.total, found.top, found.bottom)
                    for name, found in tallied.items()
                },
            )


def _add_measures(into: dict[str, list[Any]], measures: Mapping[str, Sequence[Any]]) -> None:
    for name, value in measures.items():
        found = into.get(name)
        if found is None:
            into[name] = [value[0], value[1]]
            continue
        found[0] += value[0]
        if value[1] is not None:
            found[1] = value[1] if found[1] is None else found[1] + value[1]


def _add_tallies(into: dict[str, list[int]], tallied: Mapping[str, Sequence[int]]) -> None:
    for name, value in tallied.items():
        found = into.get(name)
        if found is None:
            into[name] = list(value)
        else:
            for position in range(4):
                found[position] += value[position]


_LOCAL_DAYS = """
SELECT d, date_add(d, interval '1 day', :tz), date_trunc('week', d, :tz)
FROM generate_series(date_trunc('day', CAST(:start AS timestamptz), :tz),
                     CAST(:end AS timestamptz), interval '1 day', :tz) AS d
WHERE d < :end
"""


async def local_days(
    session: AsyncSession, start: datetime, end: datetime, tz: str
) -> list[LocalDay]:
    """The local days of `tz` that overlap [start, end), as PostgreSQL's calendar has them."""
    rows = await session.execute(text(_LOCAL_DAYS), {"start": start, "end": end, "tz": tz})
    return [LocalDay(start=row[0], end=row[1], week=row[2]) for row in rows]


_PENDING = """
SELECT DISTINCT hour FROM report_changes
WHERE hour > CAST(:start AS timestamptz) - interval '1 hour' AND hour < :end
"""
_KEPT = """
SELECT day_start, measures{bins} FROM report_days
WHERE tz = :tz AND by = :by AND day_start = ANY(:starts)
"""
_VIEW = "SELECT requested_at FROM report_views WHERE tz = :tz AND by = :by"
_NOTE_VIEW = """
INSERT INTO report_views (tz, by, requested_at) VALUES (:tz, :by, :now)
ON CONFLICT (tz, by) DO UPDATE SET requested_at = excluded.requested_at
"""


async def assemble(
    session: AsyncSession,
    window: ReportWindow,
    grouping: Grouping,
    now: datetime,
    *,
    with_bins: bool,
) -> Assembled:
    """The window's report per local day: kept days where they are current, the measure
    tables for the rest. Notes the view as wanted (committing the note)."""
    days = await local_days(session, window.start, window.end, window.tz)
    found = Assembled(days=days, weekly=with_bins)
    whole = [
        day
        for day in days
        if day.start >= window.start and day.end <= window.end and day.end <= now
    ]
    pending = [
        row[0]
        for row in await session.execute(text(_PENDING), {"start": window.start, "end": window.end})
    ]
    kept_rows = await session.execute(
        text(_KEPT.format(bins=", bin_keys, bins" if with_bins else "")),
        {"tz": window.tz, "by": grouping.value, "starts": [day.start for day in whole]},
    )
    kept: set[datetime] = set()
    for row in kept_rows:
        day_start = row[0]
        day = next(day for day in whole if day.start == day_start)
        if _touched(day, pending):
            continue
        found.add_day(day, row[1])
        if with_bins:
            keys, triples = histogram.decode(orjson.loads(row[2]), row[3])
            slots = found.weeks.slots([(day.week, group or None, name) for group, name in keys])
            triples[:, 0] = slots[triples[:, 0]]
            found.weeks.add(triples)
        kept.add(day_start)
    found.kept = len(kept)
    for start, end in _runs(
        [
            (max(day.start, window.start), min(day.end, window.end))
            for day in days
            if day.start not in kept
        ]
    ):
        piece = ReportWindow(start=start, end=end, tz=window.tz, bucket=Bucket.DAY)
        week_of = {day.start: day.week for day in days}
        found.add_read(
            week_of,
            await queries.aggregates(session, piece, grouping),
            await outcomes.tallies(session, piece, grouping),
        )
        if with_bins:
            read = await queries.histograms(session, piece, grouping)
            for (bucket, key), per_measure in read.items():
                for name, bins in per_measure.items():
                    found.weeks.add_bins((week_of[bucket], key, name), bins)
    await _note_view(session, window.tz, grouping, now)
    return found


def _touched(day: LocalDay, hours: Iterable[datetime]) -> bool:
    return any(hour < day.end and hour + timedelta(hours=1) > day.start for hour in hours)


def _runs(pieces: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Adjacent pieces joined: each run is read with one statement per table."""
    runs: list[tuple[datetime, datetime]] = []
    for start, end in sorted(pieces):
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


async def _note_view(session: AsyncSession, tz: str, grouping: Grouping, now: datetime) -> None:
    noted = await session.scalar(text(_VIEW), {"tz": tz, "by": grouping.value})
    if noted is not None and now - noted < _VIEW_NOTED_EVERY:
        return
    await session.execute(text(_NOTE_VIEW), {"tz": tz, "by": grouping.value, "now": now})
    await session.commit()


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


# The refresher.

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


def merged_weeks(found: Assembled) -> tuple[Cells, Tallies]:
    """The weeks' added-up aggregates and tallies, each duration's percentiles read from the
    week's added-up histogram."""
    spreads = found.weeks.percentiles((0.5, 0.9))
    cells: Cells = {}
    for (week, group), totals in found.week_measures.items():
        cells[(week, group)] = {
            name: Aggregate(count, total, *spreads.get((week, group, name), (None, None)))
            for name, (count, total) in totals.items()
        }
    tallies: Tallies = {
        key: {name: Tally(*value) for name, value in tallied.items()}
        for key, tallied in found.week_tallies.items()
    }
    return cells, tallies
