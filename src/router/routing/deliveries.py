"""Providers' delivery news applied to the messages we sent: sent, delivered, read, failed.

News names one message by the provider's id, or (Messenger's `delivery` and `read`
watermarks) every message we sent on the conversation up to an instant. Later news never
overwrites newer ("delivered" arriving after "read" is ignored). A reply that becomes
`failed` here is recorded as a `reply_failed` event, as when the dispatcher gives up on it.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.conversations.history import Journal
from router.inbound.envelope import DeliveryStatus, DeliveryUpdate
from router.models import ConversationThread, Message
from router.outbound.failures import ReplyFailure, masked, record_failures

STATUS_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}
# What a watermark may move on: messages the provider took, not queued or failed ones.
_BELOW_WATERMARK = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value)


async def apply_delivery_updates(
    session: AsyncSession,
    updates: list[DeliveryUpdate],
    journal: Journal,
    secrets: tuple[str, ...] = (),
) -> None:
    """Record the news on the messages it refers to, in the caller's transaction.

    Failures are journalled; the caller flushes the journal.
    """
    by_id = [item for item in updates if item.provider_message_id is not None]
    by_watermark = [item for item in updates if item.watermark is not None]
    if by_id:
        failures = await _by_message_id(session, by_id, secrets)
        await record_failures(session, journal, failures)
    if by_watermark:
        await _by_watermark(session, by_watermark)


async def _by_message_id(
    session: AsyncSession, updates: list[DeliveryUpdate], secrets: tuple[str, ...]
) -> list[ReplyFailure]:
    latest: dict[tuple[str, str], DeliveryUpdate] = {}
    for item in updates:
        key = (item.provider, str(item.provider_message_id))
        known = latest.get(key)
        if known is None or STATUS_RANK[item.status] >= STATUS_RANK[known.status]:
            latest[key] = item
    found = await session.execute(
        select(
            Message.id,
            Message.conversation_id,
            Message.provider,
            Message.provider_message_id,
            Message.delivery_status,
        )
        .where(tuple_(Message.provider, Message.provider_message_id).in_(list(latest)))
        .with_for_update()
    )
    changes = []
    failures = []
    for message_id, conversation_id, provider, provider_message_id, current in found.all():
        news = latest[(provider, str(provider_message_id))]
        if current is not None and STATUS_RANK[DeliveryStatus(current)] > STATUS_RANK[news.status]:
            continue
        error = masked(news.error, secrets) if news.error else news.error
        changes.append(
            {
                "b_id": message_id,
                "b_status": news.status.value,
                "b_error": error,
                "b_at": news.provider_timestamp or news.received_at,
            }
        )
        if news.status is DeliveryStatus.FAILED and current != DeliveryStatus.FAILED.value:
            failures.append(
                ReplyFailure(
                    message_id,
                    conversation_id,
                    provider,
                    f"{provider} reported it failed: {error or 'no reason given'}",
                )
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
    return failures


def _later(item: DeliveryUpdate, known: DeliveryUpdate) -> bool:
    return (
        item.watermark is not None
        and known.watermark is not None
        and item.watermark > known.watermark
    )


async def _by_watermark(session: AsyncSession, updates: list[DeliveryUpdate]) -> None:
    # The furthest watermark per conversation and status; `read` after `delivered`, so a
    # message both delivered and read ends read.
    furthest: dict[tuple[str, str, DeliveryStatus], DeliveryUpdate] = {}
    for item in updates:
        if item.status not in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):
            continue
        key = (item.provider, item.conversation_key, item.status)
        known = furthest.get(key)
        if known is None or _later(item, known):
            furthest[key] = item
    if not furthest:
        return
    table = cast(Table, Message.__table__)
    threads = cast(Table, ConversationThread.__table__)
    ordered = sorted(furthest.values(), key=lambda item: STATUS_RANK[item.status])
    await session.execute(
        update(table)
        .where(
            threads.c.thread_key == bindparam("b_key"),
            table.c.conversation_id == threads.c.conversation_id,
            table.c.direction == "outbound",
            table.c.provider == bindparam("b_provider"),
            table.c.created_at <= bindparam("b_watermark"),
            table.c.delivery_status.in_(_BELOW_WATERMARK),
            table.c.delivery_status != bindparam("b_status"),
        )
        .values(
            delivery_status=bindparam("b_status"),
            delivery_updated_at=bindparam("b_at"),
        ),
        [
            {
                "b_key": item.conversation_key,
                "b_provider": item.provider,
                "b_watermark": item.watermark,
                "b_status": item.status.value,
                "b_at": item.provider_timestamp or item.received_at,
            }
            for item in ordered
        ],
    )
