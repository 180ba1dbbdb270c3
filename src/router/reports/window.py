"""What a report covers: a bounded time range, a time zone, a bucket size and a grouping.

Pure: checked before anything is read, so bad input is a 422 naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import available_timezones

from router.errors import InvalidPayload

# One quarter and a bit: enough for a quarterly review, small enough to answer quickly.
MAX_RANGE = timedelta(days=92)


class Bucket(StrEnum):
    """The size of a report's time buckets, whose boundaries are local to its time zone."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


class Grouping(StrEnum):
    """What each row of a report is about besides its bucket."""

    QUEUE = "queue"
    AGENT = "agent"
    CHANNEL = "channel"


@dataclass(frozen=True)
class ReportWindow:
    """A checked report request: [start, end) in UTC, bucketed in `tz`."""

    start: datetime
    end: datetime
    tz: str
    bucket: Bucket

    @classmethod
    def checked(cls, start: datetime, end: datetime, tz: str, bucket: Bucket) -> ReportWindow:
        """The window asked for, or a 422 naming what is wrong with it."""
        for name, value in (("from", start), ("to", end)):
            if value.utcoffset() is None:
                raise InvalidPayload(f"{name}: give a time zone (such as Z)", field=name)
        if end <= start:
            raise InvalidPayload("to: must be after from", field="to")
        if end - start > MAX_RANGE:
            raise InvalidPayload(f"to: a report covers at most {MAX_RANGE.days} days", field="to")
        return cls(start=start, end=end, tz=_zone(tz), bucket=bucket)


def _zone(name: str) -> str:
    # Only IANA names: an offset PostgreSQL would also take ("+01") buckets by a fixed offset
    # and breaks at daylight saving time.
    if name not in _known_zones():
        raise InvalidPayload(f"tz: {name!r} is not an IANA time zone name", field="tz")
    return name


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())
