"""The console's queue drains: a burst of actions shares drains, each waits for one of its own."""

from __future__ import annotations

import asyncio
import logging

import pytest

from router.console.drains import QueueDrains


class Drain:
    """A drain that records when each run began and ended, and that the test lets finish."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.release = asyncio.Event()
        self.failures: list[Exception] = []

    async def __call__(self) -> None:
        self.started += 1
        await self.release.wait()
        self.release.clear()
        if self.failures:
            raise self.failures.pop(0)
        self.finished += 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_burst_during_a_drain_shares_the_next_one() -> None:
    drain = Drain()
    drains = QueueDrains(drain)
    first = asyncio.create_task(drains.after_commit())
    await settle()
    assert drain.started == 1

    burst = [asyncio.create_task(drains.after_commit()) for _ in range(20)]
    await settle()
    assert drain.started == 1, "nobody starts a second drain beside the running one"

    drain.release.set()
    await first
    await settle()
    assert not any(task.done() for task in burst), "the burst waits for a drain after it asked"
    assert drain.started == 2

    drain.release.set()
    await asyncio.gather(*burst)
    assert (drain.started, drain.finished) == (2, 2)


async def test_an_idle_process_drains_at_once_and_again_for_the_next_action() -> None:
    drain = Drain()
    drains = QueueDrains(drain)
    for expected in (1, 2, 3):
        waiting = asyncio.create_task(drains.after_commit())
        await settle()
        assert drain.started == expected
        drain.release.set()
        await waiting
    assert drain.finished == 3


async def test_a_failed_drain_is_logged_and_releases_its_waiters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drain = Drain()
    drain.failures.append(RuntimeError("database went away"))
    drains = QueueDrains(drain)
    waiting = asyncio.create_task(drains.after_commit())
    await settle()
    with caplog.at_level(logging.ERROR, logger="router.console.drains"):
        drain.release.set()
        await waiting
    assert "draining the queues after a console action failed" in caplog.text
    assert drain.finished == 0

    again = asyncio.create_task(drains.after_commit())
    await settle()
    drain.release.set()
    await again
    assert drain.finished == 1


async def test_a_caller_that_goes_away_leaves_the_drain_running() -> None:
    drain = Drain()
    drains = QueueDrains(drain)
    leaving = asyncio.create_task(drains.after_commit())
    staying = asyncio.create_task(drains.after_commit())
    await settle()
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    await settle()
    assert not staying.done()

    drain.release.set()
    await staying
    assert (drain.started, drain.finished) == (1, 1)


async def test_closing_cancels_the_running_drain_and_releases_everyone() -> None:
    drain = Drain()
    drains = QueueDrains(drain)
    running = asyncio.create_task(drains.after_commit())
    await settle()
    queued = asyncio.create_task(drains.after_commit())
    await settle()

    await drains.close()
    await asyncio.wait_for(asyncio.gather(running, queued), timeout=1)
    assert (drain.started, drain.finished) == (1, 0)

    await asyncio.wait_for(drains.after_commit(), timeout=1)
    assert drain.started == 1, "a closed process drains no more"
