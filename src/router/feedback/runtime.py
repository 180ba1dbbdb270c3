"""The survey sweep of `router serve`: delayed surveys and thank-you messages go out.

It runs where the outbound dispatcher runs. Surveys due at once are sent by the resolve
itself; the sweep sends the delayed ones and the thank-yous the routing engine queued
(possibly in another process), all claimed so that two processes never send one twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy.ext.asyncio import AsyncSession

from router.db import in_transaction
from router.feedback import surveys
from router.inbound.envelope import utcnow
from router.outbound.dispatcher import OutboundDispatcher
from router.state import RouterState

log = logging.getLogger(__name__)


async def sweep_once(state: RouterState, outbound: OutboundDispatcher) -> int:
    """Send what is due now; how many messages were handed to the dispatcher."""
    settings = state.settings

    async def work(session: AsyncSession) -> list[uuid.UUID]:
        now = utcnow()
        due = await surveys.send_due(session, settings, now)
        return [*due, *await surveys.queued_thanks(session, now)]

    ids = await in_transaction(state.sessions, work)
    for message_id in ids:
        outbound.submit(message_id)
    return len(ids)


async def _sweep_forever(state: RouterState, outbound: OutboundDispatcher) -> None:
    while True:
        try:
            await sweep_once(state, outbound)
        except Exception:
            # The database being away is the world's fault: try again next round.
            log.warning("survey sweep failed; trying again", exc_info=True)
        await asyncio.sleep(state.settings.feedback_sweep_seconds)


@asynccontextmanager
async def sending_surveys(state: RouterState, outbound: OutboundDispatcher) -> AsyncIterator[None]:
    """Run the survey sweep for as long as the app runs."""
    task = asyncio.create_task(_sweep_forever(state, outbound), name="survey-sweep")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
