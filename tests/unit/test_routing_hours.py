"""Business hours in the queue's own time zone, across DST changes and midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from router.routing.hours import (
    BusinessHours,
    OpeningWindow,
    Weekday,
    is_open,
    minute_of_day,
    weekday_of,
)

WEEKDAYS_9_TO_17 = {
    day: [{"opens": "09:00", "closes": "17:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def hours(time_zone: str, weekly: object = None, holidays: object = ()) -> BusinessHours:
    return BusinessHours.model_validate(
        {"time_zone": time_zone, "weekly": weekly or {}, "holidays": holidays}
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def open_minutes(schedule: BusinessHours, day: date) -> list[datetime]:
    """Every UTC minute of a UTC calendar day at which the schedule is open."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    minutes = (start + timedelta(minutes=offset) for offset in range(24 * 60))
    return [at for at in minutes if is_open(schedule, at)]


# --- basics -------------------------------------------------------------------------------


def test_none_hours_are_always_open() -> None:
    assert is_open(None, utc(2025, 6, 1, 3, 0))


@pytest.mark.parametrize("schedule", [None, hours("UTC", WEEKDAYS_9_TO_17)])
def test_naive_datetime_is_refused(schedule: BusinessHours | None) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(schedule, datetime(2025, 6, 2, 10, 0))


def test_opening_is_inclusive_and_closing_exclusive() -> None:
    schedule = hours("UTC", WEEKDAYS_9_TO_17)
    monday = (2025, 6, 2)
    assert not is_open(schedule, utc(*monday, 8, 59, 59))
    assert is_open(schedule, utc(*monday, 9, 0))
    assert is_open(schedule, datetime(*monday, 16, 59, 59, 999999, tzinfo=UTC))
    assert not is_open(schedule, utc(*monday, 17, 0))


def test_days_missing_from_the_schedule_are_closed() -> None:
    schedule = hours("UTC", WEEKDAYS_9_TO_17)
    assert not is_open(schedule, utc(2025, 6, 7, 12, 0))  # Saturday
    assert not is_open(schedule, utc(2025, 6, 8, 12, 0))  # Sunday


def test_several_windows_a_day_with_a_lunch_break() -> None:
    schedule = hours(
        "UTC",
        {"monday": [{"opens": "13:00", "closes": "17:00"}, {"opens": "08:00", "closes": "12:00"}]},
    )
    monday = (2025, 6, 2)
    assert is_open(schedule, utc(*monday, 11, 59))
    assert not is_open(schedule, utc(*monday, 12, 30))
    assert is_open(schedule, utc(*monday, 13, 0))
    assert [w.opens for w in schedule.weekly[Weekday.MONDAY]] == ["08:00", "13:00"]


def test_an_aware_instant_in_any_offset_is_the_same_instant() -> None:
    schedule = hours("Europe/Berlin", WEEKDAYS_9_TO_17)
    in_utc = utc(2025, 6, 2, 7, 30)  # 09:30 in Berlin (CEST)
    in_new_york = in_utc.astimezone(timezone(timedelta(hours=-4)))
    assert is_open(schedule, in_utc)
    assert is_open(schedule, in_new_york)


# --- time zones ---------------------------------------------------------------------------


def test_tokyo_and_berlin_at_the_same_utc_instant() -> None:
    tokyo = hours("Asia/Tokyo", WEEKDAYS_9_TO_17)
    berlin = hours("Europe/Berlin", WEEKDAYS_9_TO_17)
    morning_in_tokyo = utc(2025, 6, 2, 1, 0)  # Tokyo 10:00, Berlin 03:00
    assert is_open(tokyo, morning_in_tokyo)
    assert not is_open(berlin, morning_in_tokyo)
    morning_in_berlin = utc(2025, 6, 2, 8, 30)  # Tokyo 17:30, Berlin 10:30
    assert not is_open(tokyo, morning_in_berlin)
    assert is_open(berlin, morning_in_berlin)


def test_local_weekday_decides_not_the_utc_weekday() -> None:
    tokyo = hours("Asia/Tokyo", WEEKDAYS_9_TO_17)
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo; Monday 00:30 UTC is Monday 09:30 there.
    assert not is_open(tokyo, utc(2025, 6, 1, 23, 30))
    assert is_open(tokyo, utc(2025, 6, 2, 0, 30))
    # Friday 20:00 UTC is already Saturday in Tokyo.
    assert not is_open(tokyo, utc(2025, 6, 6, 20, 0))


def test_holidays_are_local_dates() -> None:
    every_day = {day.value: [{"opens": "00:00", "closes": "24:00"}] for day in Weekday}
    tokyo = hours("Asia/Tokyo", every_day, holidays=["2025-01-01"])
    berlin = hours("Europe/Berlin", every_day, holidays=["2025-01-01"])
    new_year_in_tokyo = utc(2024, 12, 31, 16, 0)  # Tokyo Jan 1 01:00, Berlin Dec 31 17:00
    assert not is_open(tokyo, new_year_in_tokyo)
    assert is_open(berlin, new_year_in_tokyo)
    assert not is_open(berlin, utc(2024, 12, 31, 23, 0))  # Berlin Jan 1 00:00
    assert is_open(tokyo, utc(2025, 1, 1, 15, 0))  # Tokyo Jan 2 00:00


# --- daylight saving ----------------------------------------------------------------------


def test_berlin_spring_forward_shifts_opening_in_utc() -> None:
    sundays = {"sunday": [{"opens": "09:00", "closes": "17:00"}]}
    berlin = hours("Europe/Berlin", sundays)
    # The Sunday before the change, 09:00 CET is 08:00 UTC; on the day (30 March 2025) it is
    # 09:00 CEST = 07:00 UTC.
    assert open_minutes(berlin, date(2025, 3, 23))[0] == utc(2025, 3, 23, 8, 0)
    on_the_day = open_minutes(berlin, date(2025, 3, 30))
    assert on_the_day[0] == utc(2025, 3, 30, 7, 0)
    assert on_the_day[-1] == utc(2025, 3, 30, 14, 59)
    assert len(on_the_day) == 8 * 60


def test_berlin_window_inside_the_spring_forward_gap_never_opens() -> None:
    gap = hours("Europe/Berlin", {"sunday": [{"opens": "02:00", "closes": "03:00"}]})
    assert open_minutes(gap, date(2025, 3, 30)) == []
    after_gap = hours("Europe/Berlin", {"sunday": [{"opens": "03:00", "closes": "04:00"}]})
    assert not is_open(after_gap, utc(2025, 3, 30, 0, 59))  # 01:59 CET
    assert is_open(after_gap, utc(2025, 3, 30, 1, 0))  # 03:00 CEST, right after the jump
    assert len(open_minutes(after_gap, date(2025, 3, 30))) == 60


def test_berlin_fall_back_repeated_hour_is_open_both_times() -> None:
    repeated = hours("Europe/Berlin", {"sunday": [{"opens": "02:00", "closes": "03:00"}]})
    # 26 October 2025: 02:00-03:00 happens at 00:00-01:00 UTC (CEST) and 01:00-02:00 UTC (CET).
    minutes = open_minutes(repeated, date(2025, 10, 26))
    assert minutes[0] == utc(2025, 10, 26, 0, 0)
    assert minutes[-1] == utc(2025, 10, 26, 1, 59)
    assert len(minutes) == 120
    assert not is_open(repeated, utc(2025, 10, 26, 2, 0))  # 03:00 CET


def test_new_york_dst_changes() -> None:
    sundays = hours("America/New_York", {"sunday": [{"opens": "09:00", "closes": "17:00"}]})
    # 9 March 2025: 09:00 EDT = 13:00 UTC (a week earlier, 09:00 EST = 14:00 UTC).
    assert not is_open(sundays, utc(2025, 3, 9, 12, 59))
    assert is_open(sundays, utc(2025, 3, 9, 13, 0))
    assert is_open(sundays, utc(2025, 3, 2, 14, 0))
    assert not is_open(sundays, utc(2025, 3, 2, 13, 59))
    one_am = hours("America/New_York", {"sunday": [{"opens": "01:00", "closes": "02:00"}]})
    # 2 November 2025: 01:00-02:00 local happens twice, 05:00-07:00 UTC.
    assert len(open_minutes(one_am, date(2025, 11, 2))) == 120
    gap = hours("America/New_York", {"sunday": [{"opens": "02:00", "closes": "03:00"}]})
    assert open_minutes(gap, date(2025, 3, 9)) == []


# --- 24:00 and overnight ------------------------------------------------------------------


def test_window_until_24_00_and_night_shift_split_over_two_days() -> None:
    night = hours(
        "Europe/Berlin",
        {
            "friday": [{"opens": "22:00", "closes": "24:00"}],
            "saturday": [{"opens": "00:00", "closes": "06:00"}],
        },
    )
    zone = night.zone
    assert not is_open(night, datetime(2025, 6, 6, 21, 59, tzinfo=zone))
    assert is_open(night, datetime(2025, 6, 6, 22, 0, tzinfo=zone))
    assert is_open(night, datetime(2025, 6, 6, 23, 59, 59, tzinfo=zone))
    assert is_open(night, datetime(2025, 6, 7, 0, 0, tzinfo=zone))
    assert is_open(night, datetime(2025, 6, 7, 5, 59, tzinfo=zone))
    assert not is_open(night, datetime(2025, 6, 7, 6, 0, tzinfo=zone))
    assert not is_open(night, datetime(2025, 6, 7, 22, 0, tzinfo=zone))


@given(
    zone=st.sampled_from(
        ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]
    ),
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
)
def test_full_days_are_always_open_and_empty_schedule_never(zone: str, at: datetime) -> None:
    instant = at.replace(tzinfo=UTC)
    whole_week = {day.value: [{"opens": "00:00", "closes": "24:00"}] for day in Weekday}
    assert is_open(hours(zone, whole_week), instant)
    assert not is_open(hours(zone, {}), instant)


# --- validation ---------------------------------------------------------------------------


def test_python_time_values_are_accepted() -> None:
    window = OpeningWindow(opens=time(8, 30), closes=time(12))
    assert (window.opens, window.closes) == ("08:30", "12:00")


@pytest.mark.parametrize(
    ("opens", "closes", "message"),
    [
        ("9:00", "17:00", "not a time of day"),
        ("09:00", "25:00", "not a time of day"),
        ("09:00", "24:01", "not a time of day"),
        ("09:60", "17:00", "not a time of day"),
        ("24:00", "24:00", "cannot open at 24:00"),
        ("09:00", "09:00", "closes before it opens"),
        ("22:00", "06:00", "do not cross midnight"),
        (time(9, 0, 30), "17:00", "set to the minute"),
        (time(9, tzinfo=UTC), "17:00", "without a time zone"),
    ],
)
def test_invalid_windows_are_refused(opens: object, closes: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OpeningWindow.model_validate({"opens": opens, "closes": closes})


def test_overlapping_windows_are_refused_but_touching_ones_are_fine() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        hours(
            "UTC",
            {
                "monday": [
                    {"opens": "09:00", "closes": "13:00"},
                    {"opens": "12:00", "closes": "17:00"},
                ]
            },
        )
    touching = hours(
        "UTC",
        {"monday": [{"opens": "09:00", "closes": "12:00"}, {"opens": "12:00", "closes": "17:00"}]},
    )
    assert is_open(touching, utc(2025, 6, 2, 12, 0))


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe", "../etc/passwd", "CEST"])
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="not a known IANA time zone"):
        hours(zone)


def test_hours_round_trip_through_json() -> None:
    schedule = hours(
        "Asia/Tokyo", {"friday": [{"opens": "22:00", "closes": "24:00"}]}, ["2025-01-01"]
    )
    again = BusinessHours.model_validate_json(schedule.model_dump_json())
    assert again == schedule
    assert again.holidays == frozenset({date(2025, 1, 1)})


def test_weekday_and_minute_helpers() -> None:
    assert weekday_of(date(2025, 3, 30)) is Weekday.SUNDAY
    assert weekday_of(date(2025, 3, 31)) is Weekday.MONDAY
    assert minute_of_day("00:00") == 0
    assert minute_of_day("09:30") == 570
    assert minute_of_day("24:00") == 1440
