"""`router consume` as an orchestrator sees it: readiness, metrics, and SIGTERM under load."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.kafka.producer import KafkaPublisher
from adapters.kafka.topics import ensure_topics
from devstack.net import free_port
from router.settings import Settings
from tests import seed
from tests.integration.routers import RouterProcess
from tests.integration.test_routing_crash import _stored, _wait_for
from tests.integration.test_routing_processes import (
    assert_capacity_never_exceeded,
    assert_state_consistent,
    conversation_messages,
)


async def _get(url: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return await client.get(url)
    except httpx.TransportError:
        return None


async def _wait_ready(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = await _get(f"http://127.0.0.1:{port}/readyz")
        if answer is not None and answer.status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"router consume never became ready on port {port}")


async def test_sigterm_during_load_exits_cleanly_and_loses_nothing(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    default = await seed.queue_id(sessions, "default")
    for number in range(5):
        capacity = {"email": 50, "chat": 50, "whatsapp": 50, "sms": 50}
        await seed.add_agent(sessions, f"agent{number}", capacity=capacity, queues=[default])
    messages = conversation_messages(1500, random.Random(3))
    await ensure_topics(settings)
    first_port = free_port()
    first = RouterProcess(
        settings.model_copy(update={"consumer_http_port": first_port, "consumer_max_batch": 50}),
        tmp_path / "first.log",
    )
    try:
        await _wait_ready(first_port, 60)
        publisher = KafkaPublisher(settings)
        await publisher.start()
        try:
            for start in range(0, len(messages), 300):
                await publisher.publish(messages[start : start + 300])
        finally:
            await publisher.close()
        stored_before = await _wait_for(sessions, 200, 120)
        metrics = await _get(f"http://127.0.0.1:{first_port}/metrics")
        assert metrics is not None
        assert "router_batch_records_count" in metrics.text
        assert "router_consumer_lag{" in metrics.text

        first.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.to_thread(first.process.wait, settings.shutdown_grace_seconds + 5)
        stopped_after = time.monotonic() - started
    finally:
        if first.process.poll() is None:
            first.kill()
    assert code == 0, first.output()
    assert stopped_after <= settings.shutdown_grace_seconds
    assert stored_before < len(messages) or await _stored(sessions) == len(messages)

    # Whatever it had taken is committed or comes back to the next router.
    second_port = free_port()
    second = RouterProcess(
        settings.model_copy(update={"consumer_http_port": second_port}), tmp_path / "second.log"
    )
    try:
        await _wait_for(sessions, len(messages), 180)
    finally:
        code = await asyncio.to_thread(second.terminate)
    assert code == 0, second.output()
    await assert_state_consistent(sessions, len(messages))
    await assert_capacity_never_exceeded(sessions)


async def test_readiness_needs_partitions(settings: Settings, tmp_path: Path) -> None:
    await ensure_topics(settings)
    # A group with more members than partitions leaves one member idle: it is not ready.
    one_partition = settings.model_copy(
        update={
            "topic_inbound": settings.topic_inbound + ".single",
            "topic_partitions": 1,
        }
    )
    await ensure_topics(one_partition)
    ports = [free_port(), free_port()]
    routers = [
        RouterProcess(
            one_partition.model_copy(update={"consumer_http_port": port}),
            tmp_path / f"router{port}.log",
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 60
        statuses: list[int | None] = []
        while time.monotonic() < deadline:
            answers = [await _get(f"http://127.0.0.1:{port}/readyz") for port in ports]
            statuses = [answer.status_code if answer else None for answer in answers]
            if sorted(status or 0 for status in statuses) == [200, 503]:
                break
            await asyncio.sleep(0.3)
        assert sorted(status or 0 for status in statuses) == [200, 503]
        idle = ports[statuses.index(503)]
        answer = await _get(f"http://127.0.0.1:{idle}/readyz")
        assert answer is not None
        assert answer.json()["checks"]["consumer"].startswith("down")
        assert answer.json()["checks"]["database"] == "up"
    finally:
        codes = [await asyncio.to_thread(router.terminate) for router in routers]
    assert codes == [0, 0]


async def test_a_consumer_on_a_shared_host_lowers_its_own_cpu_priority(
    settings: Settings, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    port = free_port()
    router = RouterProcess(
        settings.model_copy(update={"consumer_http_port": port, "consumer_niceness": 7}),
        tmp_path / "router.log",
    )
    try:
        await _wait_ready(port, 60)
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, router.process.pid) == min(19, ours + 7)
    finally:
        assert await asyncio.to_thread(router.terminate) == 0
