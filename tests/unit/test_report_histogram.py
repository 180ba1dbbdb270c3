"""The durations' histograms that days are merged into weeks by: every value read back is
within the layout's relative error, and percentiles agree with `percentile_cont`'s."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from router.reports import histogram
from router.reports.histogram import GAMMA, RELATIVE_ERROR


def bin_of(seconds: float) -> int:
    """The bin as `histogram.SQL_BIN` has PostgreSQL compute it."""
    if seconds <= 0.001:
        return 0
    return math.ceil(math.log(seconds * 1000) / math.log(GAMMA))


def binned(values: list[float]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[bin_of(value)] = counts.get(bin_of(value), 0) + 1
    return counts


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's continuous percentile: interpolated at rank fraction * (n - 1)."""
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


durations = st.floats(min_value=0, max_value=92 * 86400, allow_nan=False)


@given(durations)
def test_a_bins_value_stands_for_every_duration_in_it(seconds: float) -> None:
    read_back = histogram.representative(bin_of(seconds))
    assert abs(read_back - seconds) <= RELATIVE_ERROR * seconds + 0.001


@given(st.lists(durations, min_size=1, max_size=300), st.sampled_from([0.5, 0.9, 0.0, 1.0]))
def test_percentiles_are_within_the_relative_error(values: list[float], fraction: float) -> None:
    (found,) = histogram.percentiles(binned(values), [fraction])
    exact = percentile_cont(values, fraction)
    assert found is not None
    # 1e-9: floating-point slack of the interpolation itself.
    assert abs(found - exact) <= RELATIVE_ERROR * exact + 0.001 + 1e-9


@given(st.lists(st.lists(durations, max_size=50), min_size=1, max_size=7))
def test_merged_days_are_the_histogram_of_the_week(days: list[list[float]]) -> None:
    week = [value for day in days for value in day]
    tally = histogram.Tally()
    for day in days:
        tally.add_bins("week", binned(day))
    found = tally.percentiles([0.5, 0.9]).get("week", [None, None])
    assert found == histogram.percentiles(binned(week), [0.5, 0.9])


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert histogram.percentiles({}, [0.5, 0.9]) == [None, None]
    assert histogram.percentiles({3: 0}, [0.5]) == [None]


def test_worked_example() -> None:
    # Ten waits: 0 s twice, then 10, 20, ... 80 s. p50 is halfway between 30 and 40 s.
    values = [0.0, 0.0, 10, 20, 30, 40, 50, 60, 70, 80]
    p50, p90 = histogram.percentiles(binned(values), [0.5, 0.9])
    assert p50 is not None
    assert p90 is not None
    assert abs(p50 - 35) <= RELATIVE_ERROR * 35
    assert abs(p90 - 71) <= RELATIVE_ERROR * 71  # 70 + 0.1 * (80 - 70)


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(["", "q1", "q2"]), st.sampled_from(["handle", "resolution"])),
        st.dictionaries(st.integers(0, 600), st.integers(1, 10_000), min_size=1),
    )
)
def test_stored_histograms_read_back_the_same(
    histograms: dict[tuple[str, str], dict[int, int]],
) -> None:
    keys, stored = histogram.encode(histograms)
    read_keys, rows = histogram.decode(keys, stored)
    read_back: dict[tuple[str, str], dict[int, int]] = {}
    for position, index, count in rows.tolist():
        read_back.setdefault(read_keys[position], {})[index] = count
    assert read_back == histograms


@given(st.lists(st.tuples(st.sampled_from("abc"), st.lists(durations, max_size=40)), max_size=12))
def test_a_tally_ranks_each_key_as_its_own_histogram(days: list[tuple[str, list[float]]]) -> None:
    tally = histogram.Tally()
    for key, values in days:
        tally.add_bins(key, binned(values))
    found = tally.percentiles([0.5, 0.9])
    for key in {key for key, values in days if values}:
        alone = [value for other, values in days if other == key for value in values]
        assert found[key] == histogram.percentiles(binned(alone), [0.5, 0.9])
