"""The `since`/`until` window the audit, feedback and presence listings take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from router.errors import InvalidPayload
from router.time_window import check_window

NOON = datetime(2026, 12, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "field", "detail"),
    [
        (NOON.replace(tzinfo=None), None, "since", "since: give a time zone (such as Z)"),
        (None, NOON.replace(tzinfo=None), "until", "until: give a time zone (such as Z)"),
        (NOON, NOON - timedelta(seconds=1), "since", "since: must not be after until"),
    ],
)
def test_a_bad_window_is_refused_naming_its_parameter(
    since: datetime | None, until: datetime | None, field: str, detail: str
) -> None:
    with pytest.raises(InvalidPayload) as refused:
        check_window(since, until)
    assert refused.value.status == 422
    assert refused.value.detail == detail
    assert refused.value.extensions == {"field": field}


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (None, None),
        (NOON, None),
        (None, NOON),
        (NOON, NOON),
        # The same moment in another zone is not "after" it.
        (NOON.astimezone(timezone(timedelta(hours=5))), NOON),
    ],
)
def test_an_open_or_ordered_window_is_taken(since: datetime | None, until: datetime | None) -> None:
    check_window(since, until)
