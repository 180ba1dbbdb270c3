"""`python -m devstack up`: a PostgreSQL and a Kafka for the router, kept between runs."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[2]
ROUTER = str(Path(sys.executable).with_name("router"))


def _up(data: Path) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    """Start the stack and read its output up to the line saying how to stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up", "--data", str(data)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = ""
    deadline = time.monotonic() + 240
    while "Ctrl-C stops" not in output:
        line = process.stdout.readline()
        assert line, f"devstack up ended early:\n{output}"
        assert time.monotonic() < deadline, output
        output += line
    exported = {}
    for line in (data / "env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exported[name] = shlex.split(value)[0]
    assert f"export ROUTER_DATABASE_URL={shlex.quote(exported['ROUTER_DATABASE_URL'])}" in output
    return process, exported, output


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)  # Ctrl-C
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


async def _migrated(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return str(version) if version else None
    finally:
        await engine.dispose()


async def _topics(bootstrap: str, create: str | None = None) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(create, num_partitions=1, replication_factor=1)])
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_up_prints_the_settings_to_export_and_keeps_data_between_runs(tmp_path: Path) -> None:
    data = tmp_path / "devstack"
    process, first, output = _up(data)
    try:
        assert set(first) == {"ROUTER_DATABASE_URL", "ROUTER_KAFKA_BOOTSTRAP_SERVERS"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
        env.update(first)
        migrate = subprocess.run(
            [ROUTER, "migrate"], env=env, capture_output=True, text=True, timeout=120
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert "kept.between.runs" in asyncio.run(
            _topics(first["ROUTER_KAFKA_BOOTSTRAP_SERVERS"], create="kept.between.runs")
        )
    finally:
        _stop(process)
    assert not (data / "postgres" / "postmaster.pid").exists()

    process, second, _ = _up(data)
    try:
        assert second == first  # the same addresses: exported settings stay right
        assert asyncio.run(_migrated(second["ROUTER_DATABASE_URL"]))
        assert "kept.between.runs" in asyncio.run(_topics(second["ROUTER_KAFKA_BOOTSTRAP_SERVERS"]))
    finally:
        output = _stop(process)
    assert "devstack: stopping" in output
