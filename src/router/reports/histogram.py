"""Durations counted in logarithmic bins, so that days can be merged into weeks.

A percentile cannot be added up from the days' percentiles; a histogram can. Each bin holds
the durations within one factor of `GAMMA` of each other, so any value read back from a bin
is within `RELATIVE_ERROR` of every duration in it: the layout of DDSketch (Masson, Rim and
Lee, VLDB 2019) on a fixed index.

Bin 0 holds everything up to a millisecond (a wait of no time at all is common); bin i > 0
holds (GAMMA^(i-1), GAMMA^i] milliseconds. The database assigns the bins (`SQL_BIN`); this
module only reads them, so a value on a boundary is never binned two ways.

Many histograms are added up at once (`Tally`): a month of days by agent is tens of
thousands of them, which numpy adds and ranks in a few array operations.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

GAMMA = 1.05
# The largest distance, relative to the true value, of a value read back from its bin.
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)

# The bin of `{value}` (seconds), as the database computes it: in double precision (an
# epoch extracted from an interval is numeric, whose logarithm costs ten times as much).
SQL_BIN = (
    "CASE WHEN ({value})::float8 <= 0.001 THEN 0 "
    f"ELSE ceil(ln(({{value}})::float8 * 1000) / ln({GAMMA}))::int END"
)

Bins = dict[int, int]
Triples = npt.NDArray[np.int64]  # rows of (histogram, bin, count)


def representative(index: int) -> float:
    """The value in seconds that stands for bin `index`: no further than RELATIVE_ERROR
    from any duration in it (0 for bin 0)."""
    if index <= 0:
        return 0.0
    return float(2 * GAMMA**index / (GAMMA + 1) / 1000)


class Tally:
    """Histograms keyed by anything hashable, added up as they come."""

    def __init__(self) -> None:
        self._index: dict[Hashable, int] = {}
        self._parts: list[Triples] = []

    def slots(self, keys: Sequence[Hashable]) -> npt.NDArray[np.int64]:
        """Each key's histogram number (new keys get new ones)."""
        index = self._index
        return np.fromiter(
            (index.setdefault(key, len(index)) for key in keys), dtype=np.int64, count=len(keys)
        )

    def add(self, triples: Triples) -> None:
        """Add rows of (histogram number, bin, count)."""
        if len(triples):
            self._parts.append(triples)

    def add_bins(self, key: Hashable, bins: Mapping[int, int]) -> None:
        """Add one histogram's {bin: count} to `key`'s."""
        if bins:
            (slot,) = self.slots([key])
            rows = [(slot, index, count) for index, count in bins.items()]
            self.add(np.array(rows, dtype=np.int64))

    def percentiles(self, fractions: Sequence[float]) -> dict[Hashable, list[float | None]]:
        """Each key's percentiles as PostgreSQL's `percentile_cont` takes them (the value at
        rank `fraction * (n - 1)`, interpolated between neighbouring ranks), each ranked
        value read from its bin; None where a key counted nothing."""
        keys = list(self._index)
        if not keys:
            return {}
        rows = np.concatenate(self._parts) if self._parts else np.zeros((0, 3), dtype=np.int64)
        width = int(rows[:, 1].max()) + 1 if len(rows) else 1
        flat = np.bincount(
            rows[:, 0] * width + rows[:, 1], weights=rows[:, 2], minlength=len(keys) * width
        )
        cumulative = np.cumsum(flat.astype(np.int64).reshape(len(keys), width), axis=1)
        totals = cumulative[:, -1]
        values = 2 * GAMMA ** np.arange(width, dtype=np.float64) / (GAMMA + 1) / 1000
        values[0] = 0.0
        found: list[list[float | None]] = [[] for _ in keys]
        for fraction in fractions:
            rank = fraction * np.maximum(totals - 1, 0)
            low = np.floor(rank)
            # The bin of the k-th duration (0-based): the first whose running count passes k.
            at_low = values[_bin_of_rank(cumulative, low)]
            at_high = values[_bin_of_rank(cumulative, np.minimum(low + 1, totals - 1))]
            answer = at_low + (rank - low) * (at_high - at_low)
            for position, value in enumerate(answer.tolist()):
                found[position].append(value if totals[position] > 0 else None)
        return dict(zip(keys, found, strict=True))


def _bin_of_rank(cumulative: npt.NDArray[np.int64], rank: npt.NDArray[Any]) -> Any:
    return np.minimum((cumulative <= rank[:, None]).sum(axis=1), cumulative.shape[1] - 1)


def percentiles(histogram: Mapping[int, int], fractions: Sequence[float]) -> list[float | None]:
    """One histogram's percentiles (see `Tally.percentiles`)."""
    tally = Tally()
    tally.add_bins("one", {index: count for index, count in histogram.items() if count > 0})
    return tally.percentiles(fractions).get("one", [None for _ in fractions])


def encode(histograms: Mapping[tuple[str, str], Mapping[int, int]]) -> tuple[list[Any], bytes]:
    """Histograms keyed by (group, measure) in their stored form: the keys in order, and
    little-endian int32 rows of (key's position, bin, count)."""
    keys = list(histograms)
    rows = [
        (position, index, count)
        for position, key in enumerate(keys)
        for index, count in sorted(histograms[key].items())
    ]
    return [list(key) for key in keys], np.array(rows, dtype="<i4").tobytes()


def decode(keys: Sequence[Sequence[str]], stored: bytes) -> tuple[list[tuple[str, str]], Triples]:
    """The stored form back: the keys, and rows of (key's position, bin, count)."""
    rows = np.frombuffer(stored, dtype="<i4").reshape(-1, 3).astype(np.int64)
    return [(key[0], key[1]) for key in keys], rows
