"""Report days: the conversation report of each past local day, kept per time zone and
grouping, so that a report of weeks or months reads a row per day instead of every measure.

A day's row holds what the raw statements (`queries`, `outcomes`) answer for that day:
every group's counts, sums and exact percentiles, and each duration's histogram for merging
days into weeks. It is written only by the refresher, and only for days that have ended.

Staying right: every table a report reads has triggers that note, in the writer's
transaction, the UTC hours its changed rows are bucketed under (`report_changes`). A report
uses a kept day only when no noted hour overlaps it; everything else (today, a day cut by
the window's edges, a day with a change not yet consumed, a day not kept) is read from the
measure tables as before. The refresher (`router.reports.refresher`) consumes the notes,
forgets the days they overlap and computes the missing ones. Definitions: docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.reports import histogram, outcomes, queries
from router.reports.outcomes import Tallies, Tally
from router.reports.queries import Aggregate, Cells
from router.reports.window import Bucket, Grouping, ReportWindow

# A report noting that its view is still wanted writes at most this often.
_VIEW_NOTED_EVERY = timedelta(hours=1)


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
    whole_by_start = {day.start: day for day in whole}
    week_of = {day.start: day.week for day in days}
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
        day = whole_by_start[day_start]
        if _touched(day, pending):
            continue
        found.add_day(day, row[1])
        if with_bins:
            keys, triples = histogram.decode(orjson.loads(row[2]), row[3])
            slots = found.weeks.slots([(day.week, group or None, name) for group, name in keys])
            triples[:, 0] = slots[triples[:, 0]]
            found.weeks.add(triples)
        kept.add(day_start)
    for start, end in _runs(
        [
            (max(day.start, window.start), min(day.end, window.end))
            for day in days
            if day.start not in kept
        ]
    ):
        piece = ReportWindow(start=start, end=end, tz=window.tz, bucket=Bucket.DAY)
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
