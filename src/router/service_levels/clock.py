"""The SLA clock: when a target falls due, and how much of it has run. Pure, no I/O.

A clock counts time from a start in a calendar: `None` counts every second (the `always`
calendar), `BusinessHours` counts only the seconds at which `router.routing.hours.is_open`
says the queue is open, in the queue's own time zone. Pauses (the conversation waiting on the
customer) are intervals that never count, whatever the calendar says.

Open time is worked out per local date from the date's UTC offsets, so daylight saving
behaves as `is_open` does: a window lying in the hour skipped at spring-forward is never
open, and a window covering the hour repeated at fall-back is open both times.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from router.routing.hours import BusinessHours, minute_of_day, weekday_of

Interval = tuple[datetime, datetime]

# A calendar with no open time within this horizon never lets a target fall due.
HORIZON = timedelta(days=400)
_DAY = timedelta(days=1)
_ZERO = timedelta(0)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _offset(zone: ZoneInfo, at: datetime) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _transition(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first instant in (low, high] whose offset differs from low's (to the second)."""
    before = _offset(zone, low)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high


def _open_on(hours: BusinessHours, day: date) -> list[Interval]:
    """The UTC intervals during which the queue is open on one local date, in order."""
    windows = hours.weekly.get(weekday_of(day), ())
    if not windows or day in hours.holidays:
        return []
    zone = hours.zone
    midnight = datetime(day.year, day.month, day.day)
    # A span of UTC instants surely covering the whole local date, whatever its offsets.
    low = (midnight - timedelta(hours=30)).replace(tzinfo=UTC)
    high = (midnight + timedelta(hours=54)).replace(tzinfo=UTC)
    segments: list[tuple[datetime, datetime, timedelta]] = []
    start = low
    while start < high:
        offset = _offset(zone, start)
        end = high if _offset(zone, high) == offset else _transition(zone, start, high)
        # A second transition within the span is found on the next turn.
        if _offset(zone, end) == offset:
            end = high
        segments.append((start, end, offset))
        start = end
    found: list[Interval] = []
    for seg_start, seg_end, offset in segments:
        for window in windows:
            local_opens = midnight + timedelta(minutes=minute_of_day(window.opens))
            local_closes = midnight + timedelta(minutes=minute_of_day(window.closes))
            opens = (local_opens - offset).replace(tzinfo=UTC)
            closes = (local_closes - offset).replace(tzinfo=UTC)
            lo, hi = max(opens, seg_start), min(closes, seg_end)
            if lo < hi:
                found.append((lo, hi))
    return _merged(found)


def _merged(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def open_intervals(hours: BusinessHours | None, start: datetime) -> Iterator[Interval]:
    """The open intervals from `start` on, in order, clipped to start; ends at the horizon."""
    _require_aware("start", start)
    start = start.astimezone(UTC)
    limit = start + HORIZON
    if hours is None:
        yield (start, limit)
        return
    day = start.astimezone(hours.zone).date() - _DAY
    last = limit.astimezone(hours.zone).date()
    while day <= last:
        for opens, closes in _open_on(hours, day):
            opens, closes = max(opens, start), min(closes, limit)
            if opens < closes:
                yield (opens, closes)
        day += _DAY


def _counted(
    hours: BusinessHours | None, start: datetime, pauses: Sequence[Interval]
) -> Iterator[Interval]:
    """The intervals that count: open and not paused, from `start` on."""
    paused = _merged((a.astimezone(UTC), b.astimezone(UTC)) for a, b in pauses if a < b)
    for opens, closes in open_intervals(hours, start):
        cursor = opens
        for pause_start, pause_end in paused:
            if pause_end <= cursor or pause_start >= closes:
                continue
            if pause_start > cursor:
                yield (cursor, pause_start)
            cursor = max(cursor, pause_end)
            if cursor >= closes:
                break
        if cursor < closes:
            yield (cursor, closes)


def due_at(
    start: datetime,
    target: timedelta,
    hours: BusinessHours | None,
    pauses: Sequence[Interval] = (),
) -> datetime | None:
    """The instant at which `target` of counted time has run since `start`.

    `None` when the calendar has no open time for it within the horizon (a queue whose hours
    are all closed): such a target never falls due.
    """
    _require_aware("start", start)
    if target < _ZERO:
        raise ValueError("an SLA target cannot be negative")
    if target == _ZERO:
        return start.astimezone(UTC)
    remaining = target
    for opens, closes in _counted(hours, start, pauses):
        if closes - opens >= remaining:
            return opens + remaining
        remaining -= closes - opens
    return None


def elapsed(
    start: datetime,
    end: datetime,
    hours: BusinessHours | None,
    pauses: Sequence[Interval] = (),
) -> timedelta:
    """The counted time between two instants (zero when `end` is not after `start`)."""
    _require_aware("end", end)
    total = _ZERO
    if end <= start:
        return total
    for opens, closes in _counted(hours, start, pauses):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


@dataclass(frozen=True)
class SlaClock:
    """One target's clock: where it started, how long it may run, in which calendar."""

    start: datetime
    target: timedelta
    hours: BusinessHours | None = None
    pauses: tuple[Interval, ...] = field(default=())

    @property
    def due(self) -> datetime | None:
        """When the target falls due (see `due_at`)."""
        return due_at(self.start, self.target, self.hours, self.pauses)

    def retarget(self, target: timedelta, hours: BusinessHours | None = None) -> SlaClock:
        """The clock under a new target (and calendar), still counted from the same start."""
        return SlaClock(self.start, target, hours, self.pauses)

    def paused(self, since: datetime, until: datetime) -> SlaClock:
        """The clock with one more pause."""
        return SlaClock(self.start, self.target, self.hours, (*self.pauses, (since, until)))
