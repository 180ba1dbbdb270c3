"""The read side of `/v1/customers`: who may see a customer, lookups, one customer's page.

Supervisors and admins see every customer. An agent sees a customer when they can read at
least one of its conversations (the console's rule: owned or offered now, or owned last
once resolved), and of its conversations only those; anything else answers 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import phonenumbers
from sqlalchemy import ColumnElement, and_, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.service import Principal
from router.channels import IdentityKind
from router.console import cursor
from router.customers.linking import NUMBER_KINDS
from router.customers.schemas import (
    CustomerConversationOut,
    CustomerEventOut,
    CustomerOut,
    IdentityOut,
)
from router.errors import InvalidPayload, NotFound
from router.models import Conversation, ConversationStatus, Customer, CustomerEvent
from router.models import CustomerIdentity as IdentityRow

HISTORY_SHOWN = 50


def readable_by(principal: Principal) -> ColumnElement[bool]:
    """The conversations an agent may read, as a condition on `conversations`."""
    return or_(
        and_(
            Conversation.status == ConversationStatus.OPEN.value,
            Conversation.agent_id == principal.agent_id,
        ),
        and_(
            Conversation.status == ConversationStatus.RESOLVED.value,
            Conversation.last_agent_id == principal.agent_id,
        ),
    )


async def may_see(session: AsyncSession, principal: Principal, customer_id: uuid.UUID) -> bool:
    """Whether the caller may see (and so link or merge) this customer."""
    if principal.is_supervisor:
        return True
    if principal.agent_id is None:
        return False
    found = await session.scalar(
        select(exists().where(Conversation.customer_id == customer_id, readable_by(principal)))
    )
    return bool(found)


async def load_visible(
    session: AsyncSession, principal: Principal, customer_ids: Sequence[uuid.UUID], *, lock: bool
) -> list[Customer]:
    """The customers (locked in id order when asked) if the caller may see each; else 404."""
    statement = select(Customer).where(Customer.id.in_(customer_ids)).order_by(Customer.id)
    if lock:
        statement = statement.with_for_update()
    found = {customer.id: customer for customer in await session.scalars(statement)}
    for customer_id in customer_ids:
        if customer_id not in found or not await may_see(session, principal, customer_id):
            raise NotFound(f"customer {customer_id} does not exist")
    return [found[customer_id] for customer_id in customer_ids]


def identity_value(kind: IdentityKind, value: str, field: str = "value") -> str:
    """The stored form of an identity's value: an email lower-cased, a number in E.164.

    The channels store them so; anything that could not be one (a number without its `+`,
    an address without a domain) is a 422 naming `field`.
    """
    text = value.strip()
    if kind is IdentityKind.EMAIL:
        local, at, domain = text.partition("@")
        if not (local and at and "." in domain) or "@" in domain or any(c.isspace() for c in text):
            raise InvalidPayload(f"{field}: not an email address", field=field)
        return text.lower()
    if kind in NUMBER_KINDS:
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        e164 = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if number is not None and phonenumbers.is_possible_number(number)
            else None
        )
        if e164 != text:
            raise InvalidPayload(
                f"{field}: not a phone number in E.164 form (+14155550199)", field=field
            )
        return text
    if not text:
        raise InvalidPayload(f"{field}: empty", field=field)
    return text


def parse_identity(raw: str) -> tuple[IdentityKind, str]:
    """`kind:value` (`email:ada@example.com`, `whatsapp:+14155550199`) as kind and stored value."""
    name, colon, value = raw.partition(":")
    try:
        kind = IdentityKind(name.strip().lower())
    except ValueError:
        kind = None
    if not colon or kind is None:
        kinds = ", ".join(item.value for item in IdentityKind)
        raise InvalidPayload(f"identity: not kind:value with kind one of {kinds}", field="identity")
    return kind, identity_value(kind, value, "identity")


async def find_by_identity(session: AsyncSession, principal: Principal, raw: str) -> uuid.UUID:
    """The id of the customer an identity belongs to, if the caller may see it; else 404."""
    kind, value = parse_identity(raw)
    customer_id = await session.scalar(
        select(IdentityRow.customer_id).where(
            IdentityRow.kind == kind.value, IdentityRow.value == value
        )
    )
    if customer_id is None or not await may_see(session, principal, customer_id):
        raise NotFound(f"no customer is known by {kind.value}:{value}")
    return customer_id


async def customer_page(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    after: str | None,
    limit: int,
) -> CustomerOut:
    """The customer with its identities, a page of its conversations and its latest history."""
    (customer,) = await load_visible(session, principal, [customer_id], lock=False)
    identities = await session.scalars(
        select(IdentityRow)
        .where(IdentityRow.customer_id == customer_id)
        .order_by(IdentityRow.created_at, IdentityRow.id)
    )
    conditions: list[ColumnElement[bool]] = [Conversation.customer_id == customer_id]
    if not principal.is_supervisor:
        conditions.append(readable_by(principal))
    if after is not None:
        created, ident = cursor.decode_time_id(after)
        conditions.append(tuple_(Conversation.created_at, Conversation.id) > (created, ident))
    conversations = list(
        await session.scalars(
            select(Conversation)
            .where(*conditions)
            .order_by(Conversation.created_at, Conversation.id)
            .limit(limit + 1)
        )
    )
    more = len(conversations) > limit
    conversations = conversations[:limit]
    history = await session.scalars(
        select(CustomerEvent)
        .where(CustomerEvent.customer_id == customer_id)
        .order_by(CustomerEvent.id.desc())
        .limit(HISTORY_SHOWN)
    )
    last = conversations[-1] if more else None
    return CustomerOut(
        id=customer.id,
        display_name=customer.display_name,
        attributes=customer.attributes,
        merged_into=customer.merged_into_id,
        identities=[IdentityOut.model_validate(row) for row in identities],
        conversations=[CustomerConversationOut.model_validate(row) for row in conversations],
        next_cursor=cursor.encode(last.created_at, last.id) if last is not None else None,
        history=[CustomerEventOut.model_validate(row) for row in history],
    )
