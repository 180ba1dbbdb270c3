"""Medians over the repetitions, the ratios to both ceilings, the targets, and the printout."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.stats import spread

# (name, unit, how to read it from one repetition)
Metric = tuple[str, str, Callable[[dict[str, Any]], float | None]]

TARGET_WEBHOOK_RATIO = 0.50
TARGET_ROUTING_RATIO = 0.33
TARGET_P99_MS = 50.0


def _get(*path: str) -> Callable[[dict[str, Any]], float | None]:
    def read(rep: dict[str, Any]) -> float | None:
        node: Any = rep
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if node is None or math.isnan(float(node)):  # missing, or nothing measured
            return None
        return float(node)

    return read


def _ratio(
    top: Callable[[dict[str, Any]], float | None], bottom: Callable[[dict[str, Any]], float | None]
) -> Callable[[dict[str, Any]], float | None]:
    def read(rep: dict[str, Any]) -> float | None:
        a, b = top(rep), bottom(rep)
        return a / b if a is not None and b else None

    return read


RATE = ("service", "rate")
MAX = ("service", "max")
CEILING_A = _get("ceiling_fastapi", "accepted_per_s")
CEILING_ASGI = _get("ceiling_asgi", "accepted_per_s")
CEILING_B = _get("ceiling_pipeline", "drain_rate")
SERVICE_MAX = _get(*MAX, "accepted_per_s")
SERVICE_MAX_ROUTED = _get(*MAX, "messages_routed_per_s")
ROUTING = _get("routing_only", "records_per_s")

METRICS: list[Metric] = [
    ("ceiling (a) bare FastAPI: webhooks/s", "1/s", CEILING_A),
    ("ceiling (a) bare ASGI: webhooks/s", "1/s", CEILING_ASGI),
    (
        "ceiling (a) bare FastAPI: p99 ms (max load)",
        "ms",
        _get("ceiling_fastapi", "latency_ms", "p99"),
    ),
    ("ceiling (b) pipeline: produce records/s", "1/s", _get("ceiling_pipeline", "produce_rate")),
    ("ceiling (b) pipeline: drain records/s", "1/s", CEILING_B),
    ("service @rate: webhooks accepted/s", "1/s", _get(*RATE, "accepted_per_s")),
    ("service @rate: webhook p50 ms", "ms", _get(*RATE, "latency_ms", "p50")),
    ("service @rate: webhook p95 ms", "ms", _get(*RATE, "latency_ms", "p95")),
    ("service @rate: webhook p99 ms", "ms", _get(*RATE, "latency_ms", "p99")),
    ("service @rate: messages routed/s", "1/s", _get(*RATE, "messages_routed_per_s")),
    ("service @rate: event->offer p50 ms", "ms", _get(*RATE, "assignment", "to_offer_ms", "p50")),
    ("service @rate: event->offer p95 ms", "ms", _get(*RATE, "assignment", "to_offer_ms", "p95")),
    ("service @rate: event->offer p99 ms", "ms", _get(*RATE, "assignment", "to_offer_ms", "p99")),
    (
        "service @rate: event->offer, agent free, p50 ms",
        "ms",
        _get(*RATE, "assignment", "to_offer_free_agent_ms", "p50"),
    ),
    (
        "service @rate: event->offer, agent free, p99 ms",
        "ms",
        _get(*RATE, "assignment", "to_offer_free_agent_ms", "p99"),
    ),
    (
        "service @rate: conversations that waited for an agent",
        "1",
        _get(*RATE, "assignment", "waited_for_an_agent"),
    ),
    (
        "service @rate: event->agent sees offer p50 ms",
        "ms",
        _get(*RATE, "assignment", "to_agent_seen_ms", "p50"),
    ),
    (
        "service @rate: event->agent sees offer p99 ms",
        "ms",
        _get(*RATE, "assignment", "to_agent_seen_ms", "p99"),
    ),
    ("service max: webhooks accepted/s", "1/s", SERVICE_MAX),
    ("service max: webhook p50 ms", "ms", _get(*MAX, "latency_ms", "p50")),
    ("service max: webhook p99 ms", "ms", _get(*MAX, "latency_ms", "p99")),
    ("service max: messages routed/s", "1/s", SERVICE_MAX_ROUTED),
    ("service max: event->offer p50 ms", "ms", _get(*MAX, "assignment", "to_offer_ms", "p50")),
    ("service max: event->offer p99 ms", "ms", _get(*MAX, "assignment", "to_offer_ms", "p99")),
    ("routing-only: records/s", "1/s", ROUTING),
    ("routing-only: messages routed/s", "1/s", _get("routing_only", "messages_per_s")),
    ("ratio webhooks: service max / ceiling (a) FastAPI", "x", _ratio(SERVICE_MAX, CEILING_A)),
    ("ratio webhooks: service max / ceiling (a) ASGI", "x", _ratio(SERVICE_MAX, CEILING_ASGI)),
    ("ratio routing: routing-only / ceiling (b)", "x", _ratio(ROUTING, CEILING_B)),
    ("ratio routing: service max routed / ceiling (b)", "x", _ratio(SERVICE_MAX_ROUTED, CEILING_B)),
]


def _cores(phase: tuple[str, ...], *names: str) -> Callable[[dict[str, Any]], float | None]:
    """Mean cores of the named processes in a phase (a prefix `consume` sums every member)."""

    def read(rep: dict[str, Any]) -> float | None:
        processes = _node(rep, (*phase, "processes"))
        if not processes:
            return None
        total = sum(
            item["cpu_cores_mean"]
            for key, item in processes.items()
            if any(key == name or key.startswith(f"{name}-") for name in names)
        )
        return total or None

    return read


def _per_unit(
    cores: Callable[[dict[str, Any]], float | None], rate: Callable[[dict[str, Any]], float | None]
) -> Callable[[dict[str, Any]], float | None]:
    """CPU milliseconds per unit of work: cores busy / units per second."""

    def read(rep: dict[str, Any]) -> float | None:
        busy, done = cores(rep), rate(rep)
        return 1000 * busy / done if busy is not None and done else None

    return read


# CPU per unit of work is what the machine's noise (other processes) disturbs least.
EFFICIENCY: list[Metric] = [
    (
        "CPU ms per webhook: bare FastAPI server",
        "ms",
        _per_unit(_cores(("ceiling_fastapi",), "server"), CEILING_A),
    ),
    ("CPU ms per webhook: router serve (max)", "ms", _per_unit(_cores(MAX, "serve"), SERVICE_MAX)),
    (
        "CPU ms per record: bare pipeline + PostgreSQL",
        "ms",
        _per_unit(_cores(("ceiling_pipeline",), "pipeline", "postgres"), CEILING_B),
    ),
    (
        "CPU ms per record: router consume + PostgreSQL",
        "ms",
        _per_unit(_cores(("routing_only",), "consume", "postgres"), ROUTING),
    ),
]


def summarise(repetitions: list[dict[str, Any]]) -> dict[str, Any]:
    """Every metric as median, min, max and range over the repetitions that measured it."""
    found: dict[str, Any] = {}
    for name, unit, read in [*METRICS, *EFFICIENCY]:
        values = [v for v in (read(rep) for rep in repetitions) if v is not None]
        if values:
            found[name] = {"unit": unit, **spread(values)}
    return found


def process_table(repetitions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phase and process: median mean-CPU (cores) and the highest peak RSS (MiB)."""
    phases = {
        "ceiling (a) FastAPI": ("ceiling_fastapi", "processes"),
        "ceiling (a) ASGI": ("ceiling_asgi", "processes"),
        "ceiling (b) pipeline": ("ceiling_pipeline", "processes"),
        "service @rate": ("service", "rate", "processes"),
        "service max": ("service", "max", "processes"),
        "routing-only": ("routing_only", "processes"),
    }
    table: dict[str, dict[str, Any]] = {}
    for label, path in phases.items():
        runs = [node for rep in repetitions if (node := _node(rep, path))]
        names = sorted({name for run in runs for name in run if name != "machine"})
        rows: dict[str, Any] = {}
        for name in names:
            cores = [run[name]["cpu_cores_mean"] for run in runs if name in run]
            peaks = [run[name]["cpu_cores_peak"] for run in runs if name in run]
            memory = [run[name]["rss_mib_peak"] for run in runs if name in run]
            rows[name] = {
                "cpu_cores_median": round(statistics.median(cores), 2),
                "cpu_cores_peak": round(max(peaks), 2),
                "rss_mib_peak": round(max(memory), 1),
            }
        machine = [run["machine"] for run in runs if "machine" in run]
        if machine:
            rows["machine"] = {
                key: round(statistics.median(m[key] for m in machine), 3) for key in machine[0]
            }
        if rows:
            table[label] = rows
    return table


def _node(rep: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = rep
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def targets(summary: dict[str, Any], rate: float) -> dict[str, Any]:
    """The issue's three targets, met or not (by the medians)."""

    def median(name: str) -> float:
        return float(summary.get(name, {}).get("median", math.nan))

    webhook = median("ratio webhooks: service max / ceiling (a) FastAPI")
    routing = median("ratio routing: routing-only / ceiling (b)")
    p99 = median("service @rate: webhook p99 ms")
    return {
        "webhooks >= 50% of ceiling (a)": {
            "value": webhook,
            "met": webhook >= TARGET_WEBHOOK_RATIO,
        },
        "routing >= 33% of ceiling (b)": {"value": routing, "met": routing >= TARGET_ROUTING_RATIO},
        f"webhook p99 < 50 ms at {rate:g}/s": {"value": p99, "met": p99 < TARGET_P99_MS},
    }


def machine() -> dict[str, Any]:
    """The machine and software the figures were taken on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil  # type: ignore[import-untyped, unused-ignore]

    packages: tuple[str, ...] = ("uvicorn", "uvloop", "httptools", "fastapi", "starlette")
    packages += ("pydantic",)
    packages += ("sqlalchemy", "asyncpg", "aiokafka")
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }


def printout(summary: dict[str, Any], table: dict[str, Any], goals: dict[str, Any]) -> str:
    """The human-readable result: medians with min-max, processes, targets."""
    lines = [f"{'metric':<52} {'median':>10}  {'min .. max (range)':>28}"]
    for name, item in summary.items():
        scale, suffix = (100.0, "%") if item["unit"] == "x" else (1.0, "")
        digits = 3 if item["unit"] == "ms" and abs(item["median"]) < 10 else 1
        median = f"{item['median'] * scale:,.{digits}f}{suffix}"
        low, high = item["min"] * scale, item["max"] * scale
        span = f"{low:,.{digits}f} .. {high:,.{digits}f} ({item['range_pct']}%)"
        lines.append(f"{name:<52} {median:>10}  {span:>28}")
    lines.append("")
    lines.append(f"{'phase / process':<40} {'CPU cores (median)':>18} {'peak':>6} {'RSS MiB':>9}")
    for phase, rows in table.items():
        lines.append(phase)
        for name, row in rows.items():
            if name == "machine":
                noise = ", ".join(
                    f"{k.removesuffix('_share')} {v:.0%}"
                    if k.endswith("_share")
                    else f"{k.replace('_', ' ')} {v:.2f}"
                    for k, v in row.items()
                )
                lines.append(f"  machine: {noise}")
                continue
            lines.append(
                f"  {name:<38} {row['cpu_cores_median']:>18.2f} {row['cpu_cores_peak']:>6.2f}"
                f" {row['rss_mib_peak']:>9.1f}"
            )
    lines.append("")
    for name, goal in goals.items():
        value = goal["value"]
        shown = f"{value:.1%}" if "%" in name and "p99" not in name else f"{value:.1f} ms"
        lines.append(f"target {name}: {shown} -> {'met' if goal['met'] else 'NOT met'}")
    return "\n".join(lines)
