"""Providers' delivery news (sent, delivered, read, failed) on the replies they refer to."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.inbound.envelope import DeliveryStatus, DeliveryUpdate
from router.models import Message

# Later news never overwrites newer: "delivered" arriving after "read" is ignored.
_STATUS_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


async def apply_delivery_updates(session: AsyncSession, updates: list[DeliveryUpdate]) -> None:
    """Record providers' delivery news on the outbound messages they refer to."""
    latest: dict[tuple[str, str], DeliveryUpdate] = {}
    for item in updates:
        key = (item.provider, item.provider_message_id)
        known = latest.get(key)
        if known is None or _STATUS_RANK[item.status] >= _STATUS_RANK[known.status]:
            latest[key] = item
    found = await session.execute(
        select(Message.id, Message.provider, Message.provider_message_id, Message.delivery_status)
        .where(tuple_(Message.provider, Message.provider_message_id).in_(list(latest)))
        .with_for_update()
    )
    changes = []
    for message_id, provider, provider_message_id, current in found.all():
        news = latest[(provider, str(provider_message_id))]
        if (
            current is not None
            and _STATUS_RANK[DeliveryStatus(current)] > _STATUS_RANK[news.status]
        ):
            continue
        changes.append(
            {
                "b_id": message_id,
                "b_status": news.status.value,
                "b_error": news.error,
                "b_at": news.provider_timestamp or news.received_at,
            }
        )
    if changes:
        table = cast(Table, Message.__table__)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                delivery_status=bindparam("b_status"),
                delivery_error=bindparam("b_error"),
                delivery_updated_at=bindparam("b_at"),
            ),
            changes,
        )
