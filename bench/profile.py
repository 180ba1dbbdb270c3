"""`--profile`: sample `router serve` and `router consume` with py-spy while they work.

py-spy (the `bench` extra) records the process from outside, without changing it, at 100
samples a second (pausing it for each sample, which costs it a few per cent: the profiled
repetition runs a little slower, so `--profile` is for finding hot paths, not for the
figures). Native frames are sampled too, so time in C (the event loop, asyncpg's protocol,
socket writes, the garbage collector) shows under its own name. The raw stacks are kept beside
the results, with a summary: where the time goes by package, by function (self) and through
the router's own functions (inclusive). SQLAlchemy runs its asyncio work on greenlets, whose
stacks py-spy shows as separate roots; they count into the totals all the same.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME_LINE = re.compile(r":\d+\)$")
# Leaves that are a thread waiting for work or for I/O, which py-spy may still sample (an
# idle executor thread, a selector): counted apart, not as CPU.
_WAITING = {
    "_worker (concurrent/futures/thread.py)",
    "EpollSelector.select (selectors.py)",
    "Condition.wait (threading.py)",
    "epoll_pwait (libc.so.6)",
    "epoll_wait (libc.so.6)",
}
_FILE = re.compile(r"\((.*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, out: Path) -> asyncio.subprocess.Process | None:
    """Start sampling `pid` for `seconds` into `out` (py-spy's raw, collapsed format)."""
    executable = py_spy()
    if executable is None:
        return None
    return await asyncio.create_subprocess_exec(
        executable,
        "record",
        "--native",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        "100",
        "--format",
        "raw",
        "-o",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _package(frame: str) -> str:
    """Where a frame's code lives: the router's file, else the top-level package or module."""
    found = _FILE.search(frame)
    if found is None:
        return "?"
    path = found.group(1)
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    if path.startswith(("router/", "adapters/")):
        return path
    return path.split("/", 1)[0].removesuffix(".py")


def summarise(raw: Path, top: int = 25) -> dict[str, Any]:
    """Shares of the samples: by package, by function (self), by router function (inclusive)."""
    total = waiting = 0
    by_package: Counter[str] = Counter()
    own: Counter[str] = Counter()
    through: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_FRAME_LINE.sub(")", frame) for frame in stack.split(";")]
        if frames[-1] in _WAITING:
            waiting += samples
            continue
        total += samples
        by_package[_package(frames[-1])] += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if "(router/" in frame or "(adapters/" in frame:
                through[frame] += samples

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "waiting_samples": waiting,
        "by_package_pct": shares(by_package) if total else [],
        "self_pct": shares(own) if total else [],
        "router_inclusive_pct": shares(through) if total else [],
    }


def render(name: str, summary: dict[str, Any]) -> str:
    """The summary as text."""
    lines = [
        f"== {name}: {summary['samples']} busy samples "
        f"(+{summary['waiting_samples']} waiting for work or I/O, left out)"
    ]
    for title, key in (
        ("by package (self)", "by_package_pct"),
        ("by function (self)", "self_pct"),
        ("through the router's functions (inclusive)", "router_inclusive_pct"),
    ):
        lines.append(f"-- {title}")
        lines += [f"{share:6.1f}%  {frame}" for frame, share in summary[key]]
    return "\n".join(lines)


class Profiles:
    """The profiles of a run: started around the phases, summarised at the end."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.summaries: dict[str, dict[str, Any]] = {}
        self._running: list[tuple[str, Path, asyncio.subprocess.Process]] = []

    @property
    def enabled(self) -> bool:
        return self.folder is not None and py_spy() is not None

    async def start(self, name: str, pid: int, seconds: float) -> None:
        """Sample a process for the coming `seconds`."""
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        out = self.folder / f"{name}.raw"
        process = await record(pid, seconds, out)
        if process is not None:
            self._running.append((name, out, process))

    async def collect(self) -> None:
        """Wait for the running samplers and summarise what they wrote."""
        running, self._running = self._running, []
        for name, out, process in running:
            await process.wait()
            if out.exists():
                summary = await asyncio.to_thread(summarise, out)
                self.summaries[name] = summary
                text = render(name, summary)
                await asyncio.to_thread((out.with_suffix(".txt")).write_text, text + "\n")
