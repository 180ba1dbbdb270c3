"""The router's own Prometheus metrics, read before and after a phase.

They tell what the outside cannot see: how long the broker took to acknowledge a webhook's
events (`router_publish_seconds`, in `router serve`), how many records each consumer batch
held and how long applying it took (`router_batch_records`, `router_batch_apply_seconds`,
in `router consume`). Histograms are summed over their labels and differenced over the phase.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import httpx

HISTOGRAMS = ("router_publish_seconds", "router_batch_records", "router_batch_apply_seconds")
_LINE = re.compile(r"^([a-z_]+?)(_bucket|_sum|_count)(?:\{(.*)\})?\s+([0-9.eE+-]+|\+Inf|NaN)$")
_LE = re.compile(r'le="([^"]+)"')

Snapshot = dict[str, dict[str, Any]]


async def scrape(url: str) -> Snapshot:
    """The histograms of one process (empty when it does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            text = (await client.get(url)).text
    except httpx.HTTPError:
        return {}
    found: Snapshot = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None or match.group(1) not in HISTOGRAMS:
            continue
        name, part, labels, value = match.groups()
        entry = found.setdefault(name, {"sum": 0.0, "count": 0.0, "buckets": defaultdict(float)})
        if part == "_bucket":
            bound = _LE.search(labels or "")
            if bound:
                entry["buckets"][float(bound.group(1))] += float(value)
        else:
            entry[part.removeprefix("_")] += float(value)
    return found


def _quantile(buckets: dict[float, float], q: float) -> float:
    """A quantile from cumulative buckets, interpolated inside its bucket (as Prometheus does)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if not total:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return lower
            inside = buckets[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, buckets[bound]
    return lower


def difference(before: Snapshot, after: Snapshot) -> dict[str, dict[str, float]]:
    """Per histogram, what the phase added: count, mean, p50 and p99 (seconds or records)."""
    found: dict[str, dict[str, float]] = {}
    for name, end in after.items():
        start = before.get(name, {"sum": 0.0, "count": 0.0, "buckets": {}})
        count = end["count"] - start["count"]
        if count <= 0:
            continue
        buckets = {b: v - start["buckets"].get(b, 0.0) for b, v in end["buckets"].items()}
        found[name] = {
            "count": count,
            "mean": round((end["sum"] - start["sum"]) / count, 4),
            "p50": round(_quantile(buckets, 0.50), 4),
            "p99": round(_quantile(buckets, 0.99), 4),
        }
    return found


def merge(snapshots: list[Snapshot]) -> Snapshot:
    """Several processes' histograms as one (e.g. every consumer of the group)."""
    found: Snapshot = {}
    for snapshot in snapshots:
        for name, entry in snapshot.items():
            into = found.setdefault(name, {"sum": 0.0, "count": 0.0, "buckets": defaultdict(float)})
            into["sum"] += entry["sum"]
            into["count"] += entry["count"]
            for bound, value in entry["buckets"].items():
                into["buckets"][bound] += value
    return found
