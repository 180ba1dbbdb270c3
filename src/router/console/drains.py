"""Draining the queues after console actions: one drain at a time per process.

A resolve, a decline, a transfer, an agent coming online or a supervisor's change frees or
moves capacity, and the conversations waiting in queues should get their offers now rather
than at the next periodic sweep. Each such action asks for a drain once it has committed.

A drain is a transaction that reads the waiting conversations (up to the sweep's limit),
the queues and every online agent's slots. Run once per action, a burst of resolves would
run that many of them side by side, each skipping the rows the others had locked. Here the
actions of a burst share drains instead: while one runs, every action that asks joins the
next, which starts as soon as the running one ends (it may have read the board before their
commits). A burst of any size costs two drains, and each action still waits until a drain
that began after its commit has finished, so its caller sees the offers it made possible.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class QueueDrains:
    """Coalesces the drains that console actions ask for after their commits."""

    def __init__(self, drain: Callable[[], Awaitable[object]]) -> None:
        self._drain = drain
        self._next: asyncio.Future[None] | None = None  # the drain not yet begun
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    async def after_commit(self) -> None:
        """Wait until a drain that began after this call has finished (it may fail: logged).

        A failed drain costs nothing but time: the periodic sweep offers what it left.
        """
        if self._closed:
            return
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="queue-drains")
        # A caller that goes away (a client hanging up) leaves the drain to the others.
        await asyncio.shield(waiting)

    async def _run(self) -> None:
        try:
            while self._next is not None:
                current, self._next = self._next, None
                try:
                    await self._drain()
                except Exception:
                    log.exception("draining the queues after a console action failed")
                finally:
                    if not current.done():
                        current.set_result(None)
        finally:
            self._runner = None

    async def close(self) -> None:
        """Stop draining: the running drain is cancelled and nobody waits any longer."""
        self._closed = True
        runner = self._runner
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        self._next = None
