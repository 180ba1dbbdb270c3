"""The SLA clock: due times and elapsed time in business hours, across zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.routing.hours import BusinessHours, is_open
from router.service_levels.clock import HORIZON, SlaClock, due_at, elapsed

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
NINE_TO_FIVE = {day: [{"opens": "09:00", "closes": "17:00"}] for day in WEEKDAYS}


def hours(time_zone: str, weekly: object = None, holidays: object = ()) -> BusinessHours:
    return BusinessHours.model_validate(
        {"time_zone": time_zone, "weekly": weekly or NINE_TO_FIVE, "holidays": holidays}
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


BERLIN = hours("Europe/Berlin")
NEW_YORK = hours("America/New_York")


# --- always ---


def test_always_is_plain_addition() -> None:
    assert due_at(utc(2026, 3, 28, 23), timedelta(hours=5), None) == utc(2026, 3, 29, 4)


def test_zero_target_is_due_at_once() -> None:
    assert due_at(utc(2026, 3, 28, 23), timedelta(0), BERLIN) == utc(2026, 3, 28, 23)


def test_negative_target_and_naive_start_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        due_at(utc(2026, 1, 1), timedelta(seconds=-1), None)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 1, 1), timedelta(hours=1), None)


# --- business hours, weekends, time zones ---


def test_within_one_business_day() -> None:
    # Monday 2026-01-05 10:00 in Berlin (CET, UTC+1) is 09:00 UTC.
    assert due_at(utc(2026, 1, 5, 9), timedelta(hours=3), BERLIN) == utc(2026, 1, 5, 12)


def test_start_before_opening_counts_from_opening() -> None:
    # 06:00 Berlin; the clock starts at 09:00 local (08:00 UTC).
    assert due_at(utc(2026, 1, 5, 5), timedelta(minutes=30), BERLIN) == utc(2026, 1, 5, 8, 30)


def test_friday_afternoon_runs_over_the_weekend() -> None:
    # Friday 2026-01-09 16:00 Berlin: one hour on Friday, the second on Monday 09:00-10:00.
    assert due_at(utc(2026, 1, 9, 15), timedelta(hours=2), BERLIN) == utc(2026, 1, 12, 9)


def test_saturday_counts_nothing() -> None:
    assert elapsed(utc(2026, 1, 10), utc(2026, 1, 11, 23), BERLIN) == timedelta(0)


def test_the_same_instant_in_two_time_zones() -> None:
    # Monday 2026-01-05 15:00 UTC: 16:00 in Berlin (one hour left), 10:00 in New York.
    start = utc(2026, 1, 5, 15)
    assert due_at(start, timedelta(hours=2), BERLIN) == utc(2026, 1, 6, 9)
    assert due_at(start, timedelta(hours=2), NEW_YORK) == utc(2026, 1, 5, 17)


def test_holidays_are_closed() -> None:
    schedule = hours("Europe/Berlin", holidays=["2026-01-06"])
    # Monday 16:00 Berlin, one hour left; Tuesday is a holiday; Wednesday 09:00-10:00.
    assert due_at(utc(2026, 1, 5, 15), timedelta(hours=2), schedule) == utc(2026, 1, 7, 9)


def test_night_shift_written_as_two_windows_runs_across_midnight() -> None:
    night = hours(
        "Europe/Berlin",
        {
            "friday": [{"opens": "22:00", "closes": "24:00"}],
            "saturday": [{"opens": "00:00", "closes": "06:00"}],
        },
    )
    # Friday 2026-01-09 23:00 Berlin (22:00 UTC) + 3 h: Saturday 02:00 Berlin (01:00 UTC).
    assert due_at(utc(2026, 1, 9, 22), timedelta(hours=3), night) == utc(2026, 1, 10, 1)
    assert elapsed(utc(2026, 1, 9), utc(2026, 1, 11), night) == timedelta(hours=8)


# --- daylight saving ---


def test_berlin_spring_forward_weekend() -> None:
    # Friday 2026-03-27 16:00 CET (15:00 UTC): one hour; Monday 2026-03-30 is CEST (UTC+2).
    assert due_at(utc(2026, 3, 27, 15), timedelta(hours=2), BERLIN) == utc(2026, 3, 30, 8)


def test_berlin_spring_forward_day_has_23_hours() -> None:
    all_day = hours("Europe/Berlin", {"sunday": [{"opens": "00:00", "closes": "24:00"}]})
    assert elapsed(utc(2026, 3, 28), utc(2026, 3, 30), all_day) == timedelta(hours=23)


def test_berlin_fall_back_day_has_25_hours() -> None:
    all_day = hours("Europe/Berlin", {"sunday": [{"opens": "00:00", "closes": "24:00"}]})
    assert elapsed(utc(2026, 10, 24), utc(2026, 10, 26), all_day) == timedelta(hours=25)


def test_window_in_the_skipped_hour_is_partly_never_open() -> None:
    # 01:00-03:00 on 2026-03-29: 02:00-03:00 never happens, so only 01:00-02:00 CET counts.
    early = hours("Europe/Berlin", {"sunday": [{"opens": "01:00", "closes": "03:00"}]})
    assert elapsed(utc(2026, 3, 28), utc(2026, 3, 30), early) == timedelta(hours=1)
    assert due_at(utc(2026, 3, 28), timedelta(minutes=30), early) == utc(2026, 3, 29, 0, 30)


def test_window_over_the_repeated_hour_is_open_both_times() -> None:
    # 01:00-03:00 on 2026-10-25: 01:00 CEST (23:00 UTC) to 03:00 CET (02:00 UTC), three hours.
    early = hours("Europe/Berlin", {"sunday": [{"opens": "01:00", "closes": "03:00"}]})
    assert elapsed(utc(2026, 10, 24), utc(2026, 10, 26), early) == timedelta(hours=3)
    assert due_at(utc(2026, 10, 24), timedelta(hours=3), early) == utc(2026, 10, 25, 2)


def test_new_york_spring_forward_weekend() -> None:
    # Friday 2026-03-06 16:00 EST (21:00 UTC): one hour; Monday 2026-03-09 is EDT (UTC-4).
    assert due_at(utc(2026, 3, 6, 21), timedelta(hours=2), NEW_YORK) == utc(2026, 3, 9, 14)


def test_new_york_fall_back_weekend() -> None:
    # Friday 2026-10-30 16:00 EDT (20:00 UTC): one hour; Monday 2026-11-02 is EST (UTC-5).
    assert due_at(utc(2026, 10, 30, 20), timedelta(hours=2), NEW_YORK) == utc(2026, 11, 2, 15)


# --- pauses and retargeting ---


def test_a_pause_moves_the_due_time_by_its_length() -> None:
    pause = (utc(2026, 1, 5, 10, 15), utc(2026, 1, 5, 10, 45))
    assert due_at(utc(2026, 1, 5, 10), timedelta(hours=1), None, [pause]) == utc(2026, 1, 5, 11, 30)


def test_a_pause_outside_business_hours_costs_nothing_twice() -> None:
    # Monday 16:00 Berlin, two hours: paused from 17:00 Monday to 10:00 Tuesday (Berlin), so
    # one hour on Monday and the second from Tuesday 10:00: 11:00 Berlin, 10:00 UTC.
    pause = (utc(2026, 1, 5, 16), utc(2026, 1, 6, 9))
    assert due_at(utc(2026, 1, 5, 15), timedelta(hours=2), BERLIN, [pause]) == utc(2026, 1, 6, 10)
    assert elapsed(utc(2026, 1, 5, 15), utc(2026, 1, 6, 10), BERLIN, [pause]) == timedelta(hours=2)


def test_retargeting_counts_from_the_original_start() -> None:
    clock = SlaClock(utc(2026, 1, 5, 8), timedelta(hours=4), BERLIN)
    assert clock.due == utc(2026, 1, 5, 12)
    assert clock.retarget(timedelta(hours=1), BERLIN).due == utc(2026, 1, 5, 9)
    assert clock.retarget(timedelta(hours=10), BERLIN).due == utc(2026, 1, 6, 10)
    assert clock.retarget(timedelta(hours=10)).due == utc(2026, 1, 5, 18)


def test_paused_clock_adds_the_pause() -> None:
    clock = SlaClock(utc(2026, 1, 5, 8), timedelta(hours=1)).paused(
        utc(2026, 1, 5, 8, 30), utc(2026, 1, 5, 9)
    )
    assert clock.due == utc(2026, 1, 5, 9, 30)


def test_a_calendar_never_open_never_falls_due() -> None:
    closed = BusinessHours(time_zone="Europe/Berlin")
    assert due_at(utc(2026, 1, 5), timedelta(minutes=1), closed) is None


# --- properties ---

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
targets = st.integers(min_value=0, max_value=5 * 24 * 3600).map(lambda s: timedelta(seconds=s))


@st.composite
def schedules(draw: st.DrawFn) -> BusinessHours | None:
    if draw(st.booleans()):
        return None
    weekly: dict[str, list[dict[str, str]]] = {}
    for day in draw(st.sets(st.sampled_from([*WEEKDAYS, "saturday", "sunday"]), min_size=1)):
        opens = draw(st.integers(min_value=0, max_value=23 * 60))
        closes = draw(st.integers(min_value=opens + 1, max_value=24 * 60))
        weekly[day] = [
            {
                "opens": f"{opens // 60:02d}:{opens % 60:02d}",
                "closes": f"{closes // 60:02d}:{closes % 60:02d}",
            }
        ]
    return hours(draw(st.sampled_from(ZONES)), weekly)


@st.composite
def pause_lists(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime]]:
    pauses = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        offset = draw(st.integers(min_value=-3600, max_value=4 * 24 * 3600))
        length = draw(st.integers(min_value=1, max_value=2 * 24 * 3600))
        begins = start + timedelta(seconds=offset)
        pauses.append((begins, begins + timedelta(seconds=length)))
    return pauses


@settings(max_examples=60, deadline=None)
@given(start=instants, target=targets, schedule=schedules(), data=st.data())
def test_due_is_never_before_start_and_elapsed_reaches_the_target(
    start: datetime, target: timedelta, schedule: BusinessHours | None, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    due = due_at(start, target, schedule, pauses)
    if due is None:  # a schedule too thin to give the target within the horizon
        assert elapsed(start, start + HORIZON, schedule, pauses) < target
        return
    assert due >= start
    assert elapsed(start, due, schedule, pauses) == target


@settings(max_examples=60, deadline=None)
@given(start=instants, target=targets, schedule=schedules(), data=st.data())
def test_pausing_never_makes_a_due_time_earlier(
    start: datetime, target: timedelta, schedule: BusinessHours | None, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    plain = due_at(start, target, schedule)
    paused = due_at(start, target, schedule, pauses)
    if plain is None:  # never due without pauses: never due with them either
        assert paused is None
    elif paused is not None:
        assert paused >= plain


@given(start=instants, target=targets)
def test_always_calendar_equals_plain_addition(start: datetime, target: timedelta) -> None:
    assert due_at(start, target, None) == start + target


@settings(max_examples=40, deadline=None)
@given(schedule=schedules(), day=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)))
def test_counted_minutes_agree_with_is_open(schedule: BusinessHours | None, day: date) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    minutes = sum(is_open(schedule, start + timedelta(minutes=minute)) for minute in range(24 * 60))
    assert elapsed(start, start + timedelta(days=1), schedule) == timedelta(minutes=minutes)
