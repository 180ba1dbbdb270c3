"""The processes a phase runs: `router serve`, `router consume`, the bare servers, the load
generator and the agents, each with its own log file and a clean SIGTERM stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROUTER = str(Path(sys.executable).with_name("router"))
REPOSITORY = Path(__file__).resolve().parents[1]
# The source tree the router runs from; `--src` points it at a patched copy.
SOURCE = [REPOSITORY / "src"]


def use_source(folder: Path) -> None:
    """Run the router (children and this process) from another source tree."""
    SOURCE[0] = folder.resolve()
    sys.path.insert(0, str(SOURCE[0]))


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any `ROUTER_*`, plus `extra`; bench importable."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROUTER_")}
    paths = [str(SOURCE[0]), str(REPOSITORY)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


class Child:
    """One child process; its output goes to a log file (or a pipe the caller reads)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.output: list[str] = []
        # Where the process serves its Prometheus metrics, when it does.
        self.metrics_url: str | None = None
        self._reader: asyncio.Task[None] | None = None
        if process.stdout is not None:
            self._reader = asyncio.get_running_loop().create_task(self._read(process.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while raw := await stream.readline():
            self.output.append(raw.decode(errors="replace").strip())

    @classmethod
    async def start(
        cls,
        name: str,
        command: list[str],
        env: Mapping[str, str],
        folder: Path,
        *,
        pipe: bool = False,
    ) -> Child:
        """Start `command`; with `pipe`, stdout is readable line by line (stderr still logged)."""
        log = folder / f"{name}.log"
        out = log.open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                env=dict(env),
                stdout=asyncio.subprocess.PIPE if pipe else out,
                stderr=out,
                cwd=REPOSITORY,
            )
        finally:
            out.close()
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.returncode is None

    async def stop(self, grace: float = 30.0) -> int:
        """SIGTERM, wait, SIGKILL if it will not go; the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def wait(self) -> int:
        """Wait for the process to exit on its own; its exit code."""
        code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    def tail(self, lines: int = 30) -> str:
        """The end of the log, for a failure message."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def wait_ready(child: Child, url: str, within: float = 60.0) -> None:
    """Poll a `/readyz` (or any URL) until it answers 200; fail with the child's log."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{child.name} not ready after {within:g} s:\n{child.tail()}")


async def wait_listening(child: Child, port: int, within: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{child.name} does not listen on {port}:\n{child.tail()}")


async def stop_all(children: list[Child]) -> None:
    """Stop children concurrently (each SIGTERM first)."""
    await asyncio.gather(*(child.stop() for child in children if child is not None))
