"""Percentiles, medians with their spread, and per-second series."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, linearly interpolated; NaN when empty."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latencies(values: Iterable[float]) -> dict[str, float]:
    """p50/p95/p99/max (in the values' unit) and how many there were."""
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 50), 2),
        "p95": round(percentile(ordered, 95), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2) if ordered else math.nan,
        "count": len(ordered),
    }


def spread(values: Sequence[float]) -> dict[str, float | list[float]]:
    """Median of the repetitions, their min and max, and the max-min range as % of the median."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "values": []}
    median = statistics.median(present)
    width = max(present) - min(present)
    return {
        "median": round(median, 3),
        "min": round(min(present), 3),
        "max": round(max(present), 3),
        "range_pct": round(100 * width / median, 1) if median else math.nan,
        "values": [round(v, 3) for v in present],
    }


def per_second(
    times: Sequence[float], start: float, end: float, values: Sequence[float] | None = None
) -> list[dict[str, float]]:
    """Per whole second of [start, end): how many events, and p50/p99 of their values."""
    seconds = max(1, math.ceil(end - start))
    buckets: list[list[float]] = [[] for _ in range(seconds)]
    for index, at in enumerate(times):
        slot = int(at - start)
        if 0 <= slot < seconds:
            buckets[slot].append(values[index] if values is not None else 0.0)
    found = []
    for slot, bucket in enumerate(buckets):
        point: dict[str, float] = {"t": slot, "count": len(bucket)}
        if values is not None and bucket:
            bucket.sort()
            point["p50"] = round(percentile(bucket, 50), 2)
            point["p99"] = round(percentile(bucket, 99), 2)
        found.append(point)
    return found
