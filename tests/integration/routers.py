"""Running `router consume` processes against the test's database and broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import NoDecode

from router.settings import Settings

ROUTER = str(Path(sys.executable).with_name("router"))


def router_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    for name, value in settings:
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"ROUTER_{name.upper()}"] = _text(name, value)
    return env


def _text(name: str, value: object) -> str:
    """A setting's value written as its environment variable is read."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        # A setting that parses its own text takes `key=value` pairs; any other, JSON.
        if NoDecode in Settings.model_fields[name].metadata:
            return ",".join(f"{key}={item}" for key, item in value.items())
        return json.dumps(value)
    return str(value)


class RouterProcess:
    """One `router consume` process; its output goes to a log file for post-mortems."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.process = subprocess.Popen(
            [ROUTER, "consume"],
            env=router_env(settings),
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
