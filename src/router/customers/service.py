"""Changes to customers an API caller makes: attributes, and identities linked on evidence.

Every change is a `customer_events` row naming who made it and why. An agent may change
only a customer they can see (`router.customers.queries`); supervisors any.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.service import Principal
from router.customers import merges
from router.customers.history import record
from router.customers.linking import NUMBER_KINDS, Source
from router.customers.queries import identity_value, load_visible
from router.customers.schemas import NAMED_ATTRIBUTES, CustomerPatch, IdentityLink
from router.errors import Conflict, InvalidPayload
from router.jsontext import compact_json
from router.models import Customer, CustomerIdentity, CustomerNumber
from router.settings import Settings

# The routing engine reads every customer's attributes on every message of theirs.
MAX_ATTRIBUTES_BYTES = 16_384


def _not_merged(customer: Customer) -> None:
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer.id} was merged into {customer.merged_into_id}; "
            "change that one, or undo the merge"
        )


async def update_attributes(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    patch: CustomerPatch,
    now: datetime,
) -> None:
    """Set or remove (null) the attributes the request names; the others stay as they are."""
    (customer,) = await load_visible(session, principal, [customer_id], lock=True)
    _not_merged(customer)
    given: dict[str, Any] = {
        name: getattr(patch, name) for name in NAMED_ATTRIBUTES if name in patch.model_fields_set
    }
    given.update(patch.attributes)
    attributes = dict(customer.attributes)
    for name, value in given.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    if len(compact_json(attributes).encode()) > MAX_ATTRIBUTES_BYTES:
        raise InvalidPayload(
            f"attributes: more than {MAX_ATTRIBUTES_BYTES} bytes in all", field="attributes"
        )
    details: dict[str, Any] = {"attributes": given}
    if "display_name" in patch.model_fields_set:
        customer.display_name = patch.display_name
        details["display_name"] = patch.display_name
    customer.attributes = attributes
    record(session, customer_id, "attributes_changed", principal, "attributes set", details, now)


async def link_identity(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    customer_id: uuid.UUID,
    link: IdentityLink,
    now: datetime,
) -> None:
    """Link an identity to the customer on the caller's evidence (nothing if it already is).

    An identity that is all another customer is (say an email that made a customer of its
    own) brings that customer along: a merge, recorded and undoable like any. One that
    belongs to a customer with more identities, or whose E.164 number does, is a 409: merge
    the two customers deliberately.
    """
    (customer,) = await load_visible(session, principal, [customer_id], lock=True)
    _not_merged(customer)
    value = identity_value(link.kind, link.value)
    number = value if link.kind in NUMBER_KINDS else None
    owner = await session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == link.kind.value, CustomerIdentity.value == value
        )
    )
    if owner == customer_id:
        return
    if owner is not None and await _sole_identity(session, owner):
        merged = await merges.merge(
            session, settings, principal, customer_id, owner, link.reason, now
        )
        details = {
            "kind": link.kind.value,
            "value": value,
            "source": Source.AGENT.value,
            "merge_id": str(merged.id),
        }
        record(session, customer_id, "identity_linked", principal, link.reason, details, now)
        return
    if owner is None and number is not None:
        owner = await session.scalar(
            select(CustomerNumber.customer_id).where(CustomerNumber.number == number)
        )
    if owner is not None and owner != customer_id:
        raise Conflict(
            f"{link.kind.value}:{value} belongs to customer {owner}; merge the two customers "
            "to join them"
        )
    added = await session.scalar(
        insert(CustomerIdentity)
        .values(
            id=uuid.uuid4(),
            customer_id=customer_id,
            kind=link.kind.value,
            value=value,
            source=Source.AGENT.value,
        )
        .on_conflict_do_nothing(index_elements=["kind", "value"])
        .returning(CustomerIdentity.id)
    )
    if added is None:  # another request or router process added it meanwhile
        raise Conflict(f"{link.kind.value}:{value} was just added to a customer; look it up")
    if number is not None:
        await session.execute(
            insert(CustomerNumber)
            .values(number=number, customer_id=customer_id)
            .on_conflict_do_nothing(index_elements=["number"])
        )
    details = {"kind": link.kind.value, "value": value, "source": Source.AGENT.value}
    record(session, customer_id, "identity_linked", principal, link.reason, details, now)


async def _sole_identity(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    identities = await session.scalar(
        select(func.count()).where(CustomerIdentity.customer_id == customer_id)
    )
    return identities == 1
