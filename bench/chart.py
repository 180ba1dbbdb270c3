"""The PNG chart of one repetition: throughput, latency and CPU over time, per phase.

Columns: the service at the fixed rate, the service at maximum rate, routing-only. Rows:
throughput (webhooks accepted/s, messages routed/s), latency (webhook answer p50/p99,
event-to-offer p50/p99; for routing-only, conversations waiting for an agent), and CPU per
process in cores. Needs matplotlib (the `bench` extra); without it there is no chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _series(points: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    chosen = [p for p in points if key in p]
    return [p["t"] for p in chosen], [p[key] for p in chosen]


def _smooth(values: list[float], width: int = 4) -> list[float]:
    """A trailing moving average: half-second samples are too jumpy to read."""
    found = []
    for index in range(len(values)):
        window = values[max(0, index - width + 1) : index + 1]
        found.append(sum(window) / len(window))
    return found


def draw(rep: dict[str, Any], path: Path, title: str) -> bool:
    """Write the chart of `rep`; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    service = rep.get("service", {})
    columns = [
        (f"service @{service.get('rate', {}).get('target_rate', 0):g}/s", service.get("rate")),
        ("service, maximum rate", service.get("max")),
        ("routing-only (drain a full topic)", rep.get("routing_only")),
    ]
    columns = [(label, phase) for label, phase in columns if phase]
    figure, axes = plt.subplots(3, len(columns), figsize=(6 * len(columns), 11), squeeze=False)
    for column, (label, phase) in enumerate(columns):
        timeline = phase.get("timeline", {})
        top, middle, bottom = axes[0][column], axes[1][column], axes[2][column]
        top.set_title(label)
        if "accepted" in timeline:
            t, count = _series(timeline["accepted"], "count")
            top.plot(t, count, label="webhooks accepted/s")
        t, routed = _series(timeline.get("routed", []), "routed_per_s")
        top.plot(t, _smooth(routed), label="messages routed/s (2 s mean)")
        top.set_ylabel("per second")
        top.legend(loc="upper right", fontsize="small")
        if "latency" in timeline:
            for key, style in (("p50", "-"), ("p99", "--")):
                t, values = _series(timeline["latency"], key)
                middle.plot(t, values, style, label=f"webhook answer {key}")
            for key, style in (("p50", "-"), ("p99", "--")):
                t, values = _series(timeline.get("assignment", []), key)
                middle.plot(t, values, style, label=f"event -> offer {key}")
            middle.set_yscale("log")
            middle.set_ylabel("ms (by send second)")
        else:
            t, waiting = _series(timeline.get("routed", []), "waiting")
            middle.plot(t, waiting, label="conversations waiting for an agent")
            middle.set_ylabel("conversations")
        middle.legend(loc="upper right", fontsize="small")
        for name, points in sorted(timeline.get("cpu", {}).items()):
            if points:
                cores = _smooth([p[1] for p in points])
                bottom.plot([p[0] for p in points], cores, label=name)
        bottom.set_ylabel("CPU (cores, 2 s mean)")
        bottom.set_xlabel("seconds")
        bottom.legend(loc="upper right", fontsize="x-small", ncol=2)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True
