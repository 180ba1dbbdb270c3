"""One change feed per process: PostgreSQL LISTEN, fanned out to waiting long-polls.

A trigger on `conversations` announces every committed change on `router_conversations`,
naming the agents it may concern. A single connection per process listens and wakes only the
polls waiting on those agents (and supervisors', who watch everything), so a thousand waiting
consoles cost one idle connection, not a thousand query loops. While the connection is down
(or a notification is lost) waiting polls still recheck at a low rate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "router_conversations"
EVERYONE = "*"
_RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class ChangeFeed:
    """Wakes waiters per agent id (or `EVERYONE`) when a conversation of theirs changes."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._events: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        # How many times a listening connection was established (for health and tests).
        self.connections = 0

    def watch(self, key: str) -> asyncio.Event:
        """The event set at the next change for `key`; take it before reading the state."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait up to `seconds` for the event; True when it fired."""
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        return event.is_set()

    def notify(self, keys: list[str]) -> None:
        """Wake the waiters of these keys, and those who watch everything."""
        for key in [*keys, EVERYONE]:
            event = self._events.pop(key, None)
            if event is not None:
                event.set()

    def _wake_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self.notify([key for key in payload.split(",") if key])

    async def start(self) -> None:
        """Start listening in the background (reconnecting when the connection drops)."""
        self._task = asyncio.create_task(self._listen_forever(), name="change-feed")

    async def close(self) -> None:
        """Stop listening and release every waiter."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        self._wake_all()

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            lost = asyncio.Event()
            connection: asyncpg.Connection | None = None
            try:
                connection = await self._connect()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notification)
                failures = 0
                self.connections += 1
                self.listening.set()
                # Changes made while nobody listened were not announced: recheck everyone.
                self._wake_all()
                await lost.wait()
                log.warning("change feed connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("change feed cannot listen (%s); retrying", type(error).__name__)
            finally:
                self.listening.clear()
                if connection is not None and not connection.is_closed():
                    with suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(_RECONNECT_SECONDS[min(failures, len(_RECONNECT_SECONDS) - 1)])
            failures += 1
