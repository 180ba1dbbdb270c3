"""Merging two customers on evidence, and undoing it exactly.

A merge moves every identity, proven number and conversation of one customer to another,
copies the attributes the other lacks, and keeps the absorbed customer's row (pointing at
the one that absorbed it). `customer_merges` records exactly what moved, so undoing gives
each customer back what it had; whatever came after the merge (a new conversation, an
attribute set since) stays where it is. The moved conversations get a history event each.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.service import Principal
from router.console.moves import journal_for
from router.console.service import actor_of
from router.conversations.history import Change
from router.customers.history import record
from router.customers.queries import load_visible
from router.errors import Conflict, InvalidPayload, NotFound
from router.models import Conversation, Customer, CustomerIdentity, CustomerMerge, CustomerNumber
from router.settings import Settings


def _ordered(into_id: uuid.UUID, from_id: uuid.UUID) -> list[uuid.UUID]:
    # Locks are taken in id order, as the routing engine takes them.
    return sorted([into_id, from_id])


async def _lock_pair(
    session: AsyncSession, principal: Principal, into_id: uuid.UUID, from_id: uuid.UUID
) -> tuple[Customer, Customer]:
    locked = {
        customer.id: customer
        for customer in await load_visible(
            session, principal, _ordered(into_id, from_id), lock=True
        )
    }
    return locked[into_id], locked[from_id]


async def merge(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    into_id: uuid.UUID,
    from_id: uuid.UUID,
    reason: str,
    now: datetime,
) -> CustomerMerge:
    """Absorb customer `from_id` into `into_id`; the record says exactly what moved."""
    if into_id == from_id:
        raise InvalidPayload("from: a customer cannot absorb itself", field="from")
    into, absorbed = await _lock_pair(session, principal, into_id, from_id)
    for customer in (into, absorbed):
        if customer.merged_into_id is not None:
            raise Conflict(
                f"customer {customer.id} was already merged into {customer.merged_into_id}"
            )
    identities = await _move(session, CustomerIdentity, CustomerIdentity.id, from_id, into_id)
    numbers = await _move(session, CustomerNumber, CustomerNumber.number, from_id, into_id)
    conversations = await _move(session, Conversation, Conversation.id, from_id, into_id)
    copied = {k: v for k, v in absorbed.attributes.items() if k not in into.attributes}
    name_copied = into.display_name is None and absorbed.display_name is not None
    into.attributes = {**into.attributes, **copied}
    if name_copied:
        into.display_name = absorbed.display_name
    absorbed.merged_into_id = into_id
    merged = CustomerMerge(
        id=uuid.uuid4(),
        into_customer_id=into_id,
        from_customer_id=from_id,
        actor=principal.label,
        reason=reason,
        merged_at=now,
        identities=[str(item) for item in identities],
        conversations=[str(item) for item in conversations],
        numbers=numbers,
        from_display_name=absorbed.display_name,
        from_attributes=dict(absorbed.attributes),
        attributes_copied=copied,
        display_name_copied=name_copied,
    )
    session.add(merged)
    details = _details(merged)
    record(session, into_id, "merged", principal, reason, details, now)
    record(session, from_id, "merged_into", principal, reason, details, now)
    await session.flush()
    await _journal(
        session,
        settings,
        principal,
        conversations,
        Change.CUSTOMER_MERGED,
        f"customer {from_id} merged into {into_id}: {reason}",
        {"merge_id": str(merged.id), "from_customer": str(from_id), "into_customer": str(into_id)},
        now,
    )
    return merged


async def undo(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    merge_id: uuid.UUID,
    reason: str,
    now: datetime,
) -> CustomerMerge:
    """Give each customer of a merge back exactly the identities, numbers, conversations
    and attributes it had; a 409 when a later change stands in the way."""
    merged = await session.scalar(
        select(CustomerMerge).where(CustomerMerge.id == merge_id).with_for_update()
    )
    if merged is None:
        raise NotFound(f"merge {merge_id} does not exist")
    into_id, from_id = merged.into_customer_id, merged.from_customer_id
    locked = {
        customer.id: customer
        for customer in await session.scalars(
            select(Customer)
            .where(Customer.id.in_(_ordered(into_id, from_id)))
            .order_by(Customer.id)
            .with_for_update()
        )
    }
    # The absorbed customer has no conversation left to show an agent: the customer that
    # absorbed it decides who may undo the merge.
    await load_visible(session, principal, [into_id], lock=False)
    into, absorbed = locked[into_id], locked[from_id]
    if merged.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone at {merged.undone_at.isoformat()}")
    if into.merged_into_id is not None:
        raise Conflict(
            f"customer {into_id} was merged into {into.merged_into_id} since; undo that first"
        )
    identities = [uuid.UUID(item) for item in merged.identities]
    conversations = [uuid.UUID(item) for item in merged.conversations]
    await _give_back(session, CustomerIdentity, CustomerIdentity.id, identities, into_id, from_id)
    await _give_back(session, Conversation, Conversation.id, conversations, into_id, from_id)
    await _give_back(
        session, CustomerNumber, CustomerNumber.number, list(merged.numbers), into_id, from_id
    )
    attributes = dict(into.attributes)
    for name, value in merged.attributes_copied.items():
        if attributes.get(name) == value:
            attributes.pop(name)
    into.attributes = attributes
    if merged.display_name_copied and into.display_name == merged.from_display_name:
        into.display_name = None
    absorbed.merged_into_id = None
    merged.undone_at = now
    merged.undone_by = principal.label
    merged.undo_reason = reason
    details = _details(merged)
    record(session, into_id, "unmerged", principal, reason, details, now)
    record(session, from_id, "unmerged", principal, reason, details, now)
    await session.flush()
    await _journal(
        session,
        settings,
        principal,
        conversations,
        Change.CUSTOMER_UNMERGED,
        f"merge of customer {from_id} into {into_id} undone: {reason}",
        {"merge_id": str(merge_id), "customer": str(from_id), "was": str(into_id)},
        now,
    )
    return merged


async def _move(
    session: AsyncSession, model: Any, key: Any, from_id: uuid.UUID, into_id: uuid.UUID
) -> list[Any]:
    """Move every row of the absorbed customer to the one absorbing it; the keys moved."""
    return list(
        await session.scalars(
            update(model)
            .where(model.customer_id == from_id)
            .values(customer_id=into_id)
            .returning(key)
        )
    )


def _details(merged: CustomerMerge) -> dict[str, Any]:
    """What both customers' histories say of a merge and of its undoing."""
    return {
        "merge_id": str(merged.id),
        "from_customer": str(merged.from_customer_id),
        "into_customer": str(merged.into_customer_id),
        "identities": merged.identities,
        "conversations": merged.conversations,
    }


async def _give_back(
    session: AsyncSession,
    model: Any,
    key: Any,
    keys: list[Any],
    into_id: uuid.UUID,
    from_id: uuid.UUID,
) -> None:
    """Move these rows back to the absorbed customer; all of them must still be moved."""
    if not keys:
        return
    moved = await session.scalars(
        update(model)
        .where(key.in_(keys), model.customer_id == into_id)
        .values(customer_id=from_id)
        .returning(key)
    )
    missing = set(keys) - set(moved)
    if missing:
        raise Conflict(
            f"{len(missing)} of the {model.__tablename__} the merge moved are no longer with "
            f"customer {into_id} (a later merge?); undo that first"
        )


async def _journal(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    conversations: list[uuid.UUID],
    change: Change,
    reason: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    if not conversations:
        return
    journal = journal_for(settings, now)
    actor, actor_id = actor_of(principal)
    for conversation_id in conversations:
        journal.record(
            conversation_id, change, reason, actor=actor, actor_id=actor_id, details=details
        )
    await journal.flush(session)
