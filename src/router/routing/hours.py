"""Business hours of a queue, evaluated in the queue's own IANA time zone.

Opening windows are wall-clock times: "09:00"-"17:00" is open from nine to five local time
whatever the UTC offset is that day. A window never crosses midnight; "24:00" as a closing
time means the end of the day, so a night shift is written as two windows, e.g. Friday
"22:00"-"24:00" and Saturday "00:00"-"06:00". Overnight windows (closing before opening) are
rejected rather than guessed at, because "which day does it belong to" is ambiguous for
holidays.

Daylight saving falls out of the conversion to local time: wall-clock times skipped at
spring-forward never occur (a window lying entirely in the gap is never open), and the hour
repeated at fall-back is open both times if the window covers it. Holidays are local dates,
closed all day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from enum import StrEnum
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

END_OF_DAY = "24:00"
_LOCAL_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")


class Weekday(StrEnum):
    """A day of the week, in the order of `date.weekday()` (Monday = 0)."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


_WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)


def weekday_of(day: date) -> Weekday:
    """Return the `Weekday` of a (local) calendar date."""
    return _WEEKDAYS[day.weekday()]


def _from_time(value: object) -> object:
    # Python callers may pass datetime.time; JSON callers pass "HH:MM". Both end up as text so
    # that "24:00", which datetime.time cannot hold, has the same shape as every other time.
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError("opening times are local wall-clock times without a time zone")
        if value.second or value.microsecond:
            raise ValueError("opening times are set to the minute")
        return value.strftime("%H:%M")
    return value


def _check_local_time(value: str) -> str:
    if not _LOCAL_TIME.fullmatch(value):
        raise ValueError(f"{value!r} is not a time of day HH:MM between 00:00 and 24:00")
    return value


LocalTime = Annotated[str, BeforeValidator(_from_time), AfterValidator(_check_local_time)]


def minute_of_day(value: str) -> int:
    """Return the minutes since local midnight of an "HH:MM" time ("24:00" gives 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class OpeningWindow(BaseModel):
    """One interval of a day during which the queue is open: `opens` <= t < `closes`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: LocalTime
    closes: LocalTime

    @model_validator(mode="after")
    def _closes_after_opening(self) -> OpeningWindow:
        if self.opens == END_OF_DAY:
            raise ValueError("a window cannot open at 24:00; open at 00:00 of the next day")
        if minute_of_day(self.closes) <= minute_of_day(self.opens):
            raise ValueError(
                f"window {self.opens}-{self.closes} closes before it opens; windows do not "
                "cross midnight, split it into ...-24:00 and 00:00-... of the next day"
            )
        return self

    def contains(self, minute: int) -> bool:
        """Tell whether a local minute of the day lies inside this window."""
        return minute_of_day(self.opens) <= minute < minute_of_day(self.closes)


class BusinessHours(BaseModel):
    """A weekly schedule in one IANA time zone, plus local holiday dates (closed all day).

    Days missing from `weekly` are closed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_zone: Annotated[str, Field(min_length=1, max_length=64)]
    weekly: dict[Weekday, tuple[OpeningWindow, ...]] = Field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise ValueError(f"{value!r} is not a known IANA time zone") from error
        return value

    @field_validator("weekly")
    @classmethod
    def _windows_sorted_and_apart(
        cls, value: dict[Weekday, tuple[OpeningWindow, ...]]
    ) -> dict[Weekday, tuple[OpeningWindow, ...]]:
        ordered: dict[Weekday, tuple[OpeningWindow, ...]] = {}
        for day in _WEEKDAYS:
            windows = tuple(
                sorted(value.get(day, ()), key=lambda window: minute_of_day(window.opens))
            )
            for earlier, later in pairwise(windows):
                if minute_of_day(later.opens) < minute_of_day(earlier.closes):
                    raise ValueError(
                        f"{day}: windows {earlier.opens}-{earlier.closes} and "
                        f"{later.opens}-{later.closes} overlap"
                    )
            if windows:
                ordered[day] = windows
        return ordered

    @property
    def zone(self) -> ZoneInfo:
        """The queue's time zone (ZoneInfo caches instances, so this is cheap)."""
        return ZoneInfo(self.time_zone)


def is_open(hours: BusinessHours | None, at: datetime) -> bool:
    """Tell whether a queue with these hours is open at the aware instant `at`.

    `None` hours mean the queue is always open. A naive datetime is refused, because guessing
    its zone is exactly the mistake business hours must not make.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("is_open needs a timezone-aware datetime")
    if hours is None:
        return True
    local = at.astimezone(hours.zone)
    if local.date() in hours.holidays:
        return False
    # Boundaries are whole minutes, so flooring to the minute never changes the answer.
    minute = local.hour * 60 + local.minute
    return any(window.contains(minute) for window in hours.weekly.get(weekday_of(local), ()))
