"""A report's window: bounded, with time zones given, in an IANA zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from router.errors import InvalidPayload
from router.reports.window import MAX_RANGE, Bucket, ReportWindow

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_window_of_at_most_92_days_in_an_iana_zone_is_taken() -> None:
    window = ReportWindow.checked(START, START + MAX_RANGE, "Europe/Berlin", Bucket.WEEK)
    assert (window.start, window.end, window.tz, window.bucket) == (
        START,
        START + timedelta(days=92),
        "Europe/Berlin",
        Bucket.WEEK,
    )


@pytest.mark.parametrize(
    ("start", "end", "tz", "field"),
    [
        (START, START + MAX_RANGE + timedelta(seconds=1), "UTC", "to"),
        (START, START, "UTC", "to"),
        (START, START - timedelta(hours=1), "UTC", "to"),
        (START.replace(tzinfo=None), START + timedelta(days=1), "UTC", "from"),
        (START, (START + timedelta(days=1)).replace(tzinfo=None), "UTC", "to"),
        (START, START + timedelta(days=1), "+01", "tz"),
        (START, START + timedelta(days=1), "Mars/Olympus", "tz"),
        (START, START + timedelta(days=1), "", "tz"),
    ],
)
def test_a_bad_window_names_its_parameter(
    start: datetime, end: datetime, tz: str, field: str
) -> None:
    with pytest.raises(InvalidPayload) as refused:
        ReportWindow.checked(start, end, tz, Bucket.DAY)
    assert refused.value.detail.startswith(f"{field}: ")
