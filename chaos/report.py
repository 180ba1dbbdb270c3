"""The run's tables: faults, answers, and violations per check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from chaos.checks import Finding
from chaos.faults import Fault


def fault_table(faults: Sequence[Fault]) -> list[str]:
    """What was broken, when (seconds into the load), and for how long."""
    lines = ["Faults", f"  {'what':<18} {'at (s)':>7} {'down (s)':>9} {'back after (s)':>15}  note"]
    for fault in sorted(faults, key=lambda f: f.began if f.began is not None else f.at):
        duration = f"{fault.duration:.1f}" if fault.duration is not None else "-"
        began = f"{fault.began:.1f}" if fault.began is not None else "not run"
        what = fault.what
        if what == "consumer SIGKILL":
            what = f"SIGKILL consume-{fault.target + 1}"
        elif what == "consumer exited":
            what = f"consume-{fault.target + 1} exited"
        elif what == "broker kill":
            what = f"SIGKILL broker {fault.target + 1}"
        lines.append(
            f"  {what:<18} {began:>7} {fault.down:>9.1f} {duration:>15}  {fault.error or ''}"
        )
    return lines


def answer_table(counts: Counter[str], webhooks: int, team: Counter[str]) -> list[str]:
    """Webhook answers (every delivery, re-sends and retries included) and the team's work."""
    total = sum(counts.values())
    other = {key: n for key, n in counts.items() if key not in ("2xx", "503")}
    others = ", ".join(f"{key}: {n}" for key, n in sorted(other.items())) or "none"
    lines = [
        "Answers",
        f"  {webhooks} webhooks, {total} deliveries: 2xx {counts.get('2xx', 0)}, "
        f"503 {counts.get('503', 0)}, other {sum(other.values())} ({others}; 0 = no answer)",
        "  team: " + ", ".join(f"{key} {n}" for key, n in sorted(team.items())),
    ]
    return lines


def check_table(findings: Sequence[Finding]) -> list[str]:
    """Violations per check, with a few examples of each."""
    lines = ["Checks", f"  {'check':<38} {'violations':>10}  measured"]
    for finding in findings:
        verdict = str(finding.violations) if finding.violations else "0 (ok)"
        lines.append(f"  {finding.name:<38} {verdict:>10}  {finding.note}")
        lines.extend(f"      e.g. {example}" for example in finding.examples)
    return lines


def as_json(
    faults: Sequence[Fault], counts: Counter[str], team: Counter[str], findings: Sequence[Finding]
) -> dict[str, Any]:
    """The same, for the run's folder."""
    return {
        "faults": [
            {
                "what": f.what,
                "target": f.target,
                "at": f.began,
                "down": f.down,
                "back_after": f.duration,
                "error": f.error,
            }
            for f in faults
        ],
        "answers": dict(counts),
        "team": dict(team),
        "checks": [
            {"check": f.name, "violations": f.violations, "note": f.note, "examples": f.examples}
            for f in findings
        ],
    }
