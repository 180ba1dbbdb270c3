"""The `router` command as a new user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devstack.net import free_port

ROUTER = str(Path(sys.executable).with_name("router"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update(extra)
    return env


def test_config_prints_effective_settings_with_secrets_masked() -> None:
    env = _env(
        ROUTER_DATABASE_URL="postgresql://router:hunter2@db.internal/router",
        ROUTER_TWILIO_AUTH_TOKEN="s3cret-token",
        ROUTER_TOPIC_PARTITIONS="24",
    )
    result = subprocess.run([ROUTER, "config"], env=env, capture_output=True, text=True, check=True)
    shown = json.loads(result.stdout)
    assert shown["ROUTER_DATABASE_URL"] == "postgresql://router:***@db.internal/router"
    assert shown["ROUTER_TWILIO_AUTH_TOKEN"] == "***"
    assert shown["ROUTER_TOPIC_PARTITIONS"] == 24
    assert "hunter2" not in result.stdout
    assert "s3cret-token" not in result.stdout


def test_serve_on_embedded_defaults_is_ready_and_keeps_its_data(tmp_path: Path) -> None:
    port = free_port()
    env = _env(ROUTER_DATA_DIR=str(tmp_path / "var"), ROUTER_HTTP_PORT=str(port))
    for _ in range(2):  # the second start finds the data folder of the first
        process = subprocess.Popen(
            [ROUTER, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + 120
            status = None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
                    if status == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert status == 200
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=30)
        assert "embedded PostgreSQL" in output
        assert "transport inline" in output
        assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()
        # Stopped with the router (even though SIGTERM ends the process without atexit).
        assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists(), output
