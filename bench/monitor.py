"""CPU and memory of every process of a phase (psutil), and of the whole machine.

Sampled twice a second: each process's CPU (in cores: 1.0 is one core busy), its resident
memory, and the machine's CPU split (user, system, iowait, steal) so a noisy neighbour on
a virtual machine shows up as steal time rather than as a slower router. PostgreSQL counts
as one process tree: its backends' CPU summed, its memory as the backends' private memory
plus the postmaster's (shared buffers counted once).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped, unused-ignore]

INTERVAL = 0.5


@dataclass
class _Watched:
    name: str
    process: psutil.Process
    tree: bool
    last_cpu: dict[int, float] = field(default_factory=dict)
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, cores, MiB)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class Monitor:
    """Samples the watched processes until stopped; summarises any time window."""

    def __init__(self) -> None:
        self._watched: dict[str, _Watched] = {}
        self._machine: list[tuple[float, dict[str, float]]] = []
        self._task: asyncio.Task[None] | None = None
        self._last_machine = psutil.cpu_times()
        self._last_at = time.time()

    def watch(self, name: str, pid: int | None, *, tree: bool = False) -> None:
        """Start sampling a process (and, with `tree`, its children)."""
        if pid is None:
            return
        try:
            self._watched[name] = _Watched(name, psutil.Process(pid), tree)
        except psutil.NoSuchProcess:
            return

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            self.sample()

    def sample(self) -> None:
        """Take one sample of every watched process and of the machine."""
        now = time.time()
        elapsed = max(1e-6, now - self._last_at)
        self._last_at = now
        for watched in self._watched.values():
            try:
                if watched.process.status() == psutil.STATUS_ZOMBIE:
                    continue
                members = [watched.process]
                if watched.tree:
                    members += watched.process.children(recursive=True)
                cores, memory = self._measure(watched, members, elapsed)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            watched.samples.append((now, cores, memory))
        machine = psutil.cpu_times()
        total = sum(machine) - sum(self._last_machine)
        if total > 0:
            split = {
                name: (getattr(machine, name) - getattr(self._last_machine, name)) / total
                for name in ("user", "system", "iowait", "steal", "idle")
                if hasattr(machine, name)
            }
            self._machine.append((now, split))
        self._last_machine = machine

    def _measure(
        self, watched: _Watched, members: list[psutil.Process], elapsed: float
    ) -> tuple[float, float]:
        busy = 0.0
        seen: dict[int, float] = {}
        memory = 0.0
        for member in members:
            try:
                cpu = _cpu(member)
                info = member.memory_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            seen[member.pid] = cpu
            # A process first seen counts from the first sample that knew it.
            busy += cpu - watched.last_cpu.get(member.pid, cpu)
            if watched.tree and member.pid != watched.process.pid:
                memory += info.rss - getattr(info, "shared", 0)
            else:
                memory += info.rss
        watched.last_cpu = seen
        return max(0.0, busy / elapsed), memory / 2**20

    def summary(self, start: float, end: float) -> dict[str, dict[str, float]]:
        """Per process in [start, end] (wall clock): mean and peak cores, peak MiB."""
        found: dict[str, dict[str, float]] = {}
        for name, watched in self._watched.items():
            window = [s for s in watched.samples if start < s[0] <= end]
            if not window:
                continue
            cores = [s[1] for s in window]
            found[name] = {
                "cpu_cores_mean": round(sum(cores) / len(cores), 3),
                "cpu_cores_peak": round(max(cores), 3),
                "rss_mib_peak": round(max(s[2] for s in window), 1),
            }
        machine = [split for at, split in self._machine if start < at <= end]
        if machine:
            shares = {
                f"{name}_share": round(
                    sum(part.get(name, 0.0) for part in machine) / len(machine), 3
                )
                for name in ("user", "system", "iowait", "steal", "idle")
            }
            busy = (1 - shares["idle_share"] - shares["iowait_share"]) * (psutil.cpu_count() or 1)
            ours = sum(item["cpu_cores_mean"] for item in found.values())
            # CPU used by processes that are not part of the bench: the machine's own noise.
            shares["other_processes_cores"] = round(max(0.0, busy - ours), 2)
            found["machine"] = shares
        return found

    def series(self, start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        """Per process: (seconds since start, cores) samples in the window, for the chart."""
        return {
            name: [(round(t - start, 2), round(c, 3)) for t, c, _ in w.samples if start < t <= end]
            for name, w in self._watched.items()
        }
