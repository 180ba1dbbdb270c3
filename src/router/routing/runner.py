"""The routing engine's background work: the sweeps, and the outbox relay.

What carries the records (Kafka) comes from the composition root (`router.bootstrap`), as a
`RecordPublisher`; nothing here speaks a broker's language.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import driver_connection, in_transaction, is_unreachable
from router.inbound.envelope import utcnow
from router.inbound.replay import prune_tokens
from router.reports import refresher
from router.reports.feed import feed_histograms
from router.routing.offers import drain_waiting, expire_offers
from router.routing.overdue import move_overdue
from router.service_levels.sweep import publish_due
from router.settings import Settings

log = logging.getLogger(__name__)

# Only one process relays the outbox at a time, so events leave in the order they were written.
_RELAY_LOCK = 7_260_002


async def sweep_forever(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Every interval: move lapsed offers on, apply the queues' time rules (an owner gone, a
    reply overdue, a wait past the limit), then offer waiting conversations to free agents,
    and publish the SLA clocks that came at risk or ran out.

    It also forgets the signed webhook tokens whose replay window has passed, feeds the
    wait and response histograms from the measures the database recorded and, every
    `reports_refresh_seconds`, refreshes the kept report days.
    """
    refreshed = float("-inf")
    while not stop.is_set():
        try:
            await in_transaction(sessions, lambda s: expire_offers(s, settings, clock()))
            await in_transaction(sessions, lambda s: move_overdue(s, settings, clock()))
            await in_transaction(sessions, lambda s: drain_waiting(s, settings, clock()))
            await in_transaction(sessions, lambda s: publish_due(s, settings, clock()))
            await in_transaction(sessions, lambda s: prune_tokens(s, clock()))
            await in_transaction(sessions, feed_histograms)
            if time.monotonic() - refreshed >= settings.reports_refresh_seconds:
                refreshed = time.monotonic()
                await refresher.refresh(
                    sessions,
                    clock(),
                    timedelta(days=settings.reports_keep_days),
                    settings.reports_refresh_budget_seconds,
                )
        except Exception as error:
            if is_unreachable(error):  # the world's fault: no traceback to read
                log.warning(
                    "sweep waits for the database; trying again next interval",
                    extra={"error": type(error).__name__},
                )
            else:
                log.exception("sweep failed; trying again next interval")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.sweep_interval_seconds)


Record = tuple[str, bytes | None, bytes]

_OLDEST = "SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1"
_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"


async def relay_outbox(
    sessions: async_sessionmaker[AsyncSession],
    publish_all: Callable[[Sequence[Record]], Awaitable[None]],
    *,
    limit: int = 500,
) -> int:
    """Publish the outbox's rows in id order; delete them once they are acknowledged.

    A failure leaves the rows unpublished, to be sent again: delivery is at least once, and
    each event carries its own id for consumers to recognise a repeat.
    """

    async def work(session: AsyncSession) -> int:
        leader = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_RELAY_LOCK})"))
        if not leader:
            return 0
        connection = await driver_connection(session)
        rows = await connection.fetch(_OLDEST, limit)
        if not rows:
            return 0
        await publish_all([(row["topic"], row["key"], row["value"]) for row in rows])
        await connection.execute(_PUBLISHED, [row["id"] for row in rows])
        return len(rows)

    return await in_transaction(sessions, work)


class RecordPublisher(Protocol):
    """Publishes prepared records (topic, key, value); returns once all are acknowledged."""

    async def start(self) -> None: ...

    async def publish_all(self, records: Sequence[Record]) -> None: ...

    async def close(self) -> None: ...


async def relay_forever(
    sessions: async_sessionmaker[AsyncSession], publisher: RecordPublisher, stop: asyncio.Event
) -> None:
    """Publish conversation events to `router.events.v1` as their transactions commit.

    Starts the publisher, and closes it when `stop` is set.
    """
    await publisher.start()
    try:
        while not stop.is_set():
            try:
                sent = await relay_outbox(sessions, publisher.publish_all)
            except Exception:
                log.exception("outbox relay failed; trying again")
                sent = 0
            if not sent:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
    finally:
        await publisher.close()
