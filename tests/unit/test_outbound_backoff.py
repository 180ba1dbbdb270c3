"""The wait between attempts: the provider's Retry-After, else full jitter, always capped."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.outbound.http import retry_after_seconds
from router.outbound.backoff import RetryPolicy

NOW = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Wed, 02 Dec 2026 10:00:30 GMT", 30.0),  # IMF-fixdate
        ("Wednesday, 02-Dec-26 10:01:00 GMT", 60.0),  # RFC 850
        ("Wed Dec  2 10:00:05 2026", 5.0),  # asctime, no zone: GMT
        ("Wed, 02 Dec 2026 09:00:00 GMT", 0.0),  # already past
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("١٢", None),  # digits, but not ASCII ones
    ],
)
def test_retry_after_header_reads_as_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=0.5, max_seconds=20, uniform=lambda: 0.99)
    assert policy.wait_seconds(1, retry_after=3.0) == 3.0
    assert policy.wait_seconds(4, retry_after=0.0) == 0.0
    assert policy.wait_seconds(1, retry_after=3600.0) == 20


@given(
    attempt=st.integers(min_value=1, max_value=12),
    base=st.floats(min_value=0.01, max_value=5),
    seed=st.integers(),
)
def test_full_jitter_stays_between_zero_and_the_doubling_ceiling(
    attempt: int, base: float, seed: int
) -> None:
    policy = RetryPolicy(base_seconds=base, max_seconds=20, uniform=random.Random(seed).random)
    wait = policy.wait_seconds(attempt)
    assert 0 <= wait <= min(base * 2 ** (attempt - 1), 20)


def test_full_jitter_spreads_replies_that_failed_together() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=20, uniform=random.Random(7).random)
    waits = [policy.wait_seconds(3) for _ in range(200)]
    assert min(waits) < 0.5
    assert max(waits) > 3.5
    assert len({round(wait, 3) for wait in waits}) > 150
