"""Reads of the SLA clocks for the console API."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.models import ConversationSla
from router.service_levels.policy import Target
from router.service_levels.schemas import SlaClockOut

_ORDER = {target.value: position for position, target in enumerate(Target)}


async def clocks_of(
    session: AsyncSession, conversation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[SlaClockOut]]:
    """Each conversation's clocks (first response, next response, resolution), in one query;
    a conversation without clocks gets an empty list."""
    found: dict[uuid.UUID, list[SlaClockOut]] = {cid: [] for cid in conversation_ids}
    if not found:
        return found
    rows = await session.scalars(
        select(ConversationSla).where(ConversationSla.conversation_id.in_(list(found)))
    )
    for row in sorted(rows.all(), key=lambda row: _ORDER[row.target]):
        found[row.conversation_id].append(SlaClockOut.of(row))
    return found
