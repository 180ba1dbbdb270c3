"""`/v1/customers`: look a customer up by any identity, read, set attributes, link, merge."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.dependencies import CurrentPrincipal
from router.auth.service import Principal
from router.console.runtime import router_state
from router.console.schemas import Text
from router.customers import merges, queries, service
from router.customers.schemas import (
    CustomerOut,
    CustomerPatch,
    IdentityLink,
    MergeOut,
    MergeRequest,
    UndoRequest,
)
from router.db import in_transaction
from router.inbound.envelope import utcnow
from router.openapi import problems
from router.state import RouterState

router = APIRouter(prefix="/v1/customers", tags=["customers"])

State = Annotated[RouterState, Depends(router_state)]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=200, description="Conversations per page")]

_READ = problems(401, 404, 422)
_ACT = problems(401, 404, 409, 422)


async def _page(
    session: AsyncSession,
    principal: Principal,
    customer_id: uuid.UUID,
    cursor: str | None = None,
    limit: int = 50,
) -> CustomerOut:
    return await queries.customer_page(session, principal, customer_id, cursor, limit)


async def _changed(
    state: RouterState,
    principal: Principal,
    customer_id: uuid.UUID,
    change: Callable[[AsyncSession], Awaitable[object]],
) -> CustomerOut:
    """Make the change in one transaction and answer with the customer as it now reads."""

    async def work(session: AsyncSession) -> CustomerOut:
        await change(session)
        await session.flush()
        return await _page(session, principal, customer_id)

    return await in_transaction(state.sessions, work)


@router.get(
    "",
    operation_id="customers_find",
    summary="The customer known by an identity",
    response_model=CustomerOut,
    responses=_READ,
)
async def find_customer(
    principal: CurrentPrincipal,
    state: State,
    identity: Annotated[
        Text,
        Query(
            min_length=3,
            max_length=340,
            description="`kind:value`, e.g. `email:ada@example.com`, `phone:+14155550199`",
        ),
    ],
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CustomerOut:
    """Agents find only customers one of whose conversations they can read."""
    async with state.sessions() as session:
        customer_id = await queries.find_by_identity(session, principal, identity)
        return await _page(session, principal, customer_id, cursor, limit)


@router.get(
    "/{customer_id}",
    operation_id="customers_get",
    summary="A customer with identities, attributes, conversations (paged) and history",
    response_model=CustomerOut,
    responses=_READ,
)
async def get_customer(
    customer_id: uuid.UUID,
    principal: CurrentPrincipal,
    state: State,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CustomerOut:
    """An agent sees the customer's conversations they can read; supervisors all."""
    async with state.sessions() as session:
        return await _page(session, principal, customer_id, cursor, limit)


@router.patch(
    "/{customer_id}",
    operation_id="customers_update",
    summary="Set attributes (display name, language, tier, CRM id, free key-values)",
    response_model=CustomerOut,
    responses=_ACT,
)
async def update_customer(
    customer_id: uuid.UUID, body: CustomerPatch, principal: CurrentPrincipal, state: State
) -> CustomerOut:
    """The routing policy's `customer_attributes` rules match what is set here."""

    return await _changed(
        state,
        principal,
        customer_id,
        lambda session: service.update_attributes(session, principal, customer_id, body, utcnow()),
    )


@router.post(
    "/{customer_id}/identities",
    operation_id="customers_link_identity",
    summary="Link an identity to the customer, on evidence the caller gives",
    response_model=CustomerOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ACT,
)
async def link_identity(
    customer_id: uuid.UUID, body: IdentityLink, principal: CurrentPrincipal, state: State
) -> CustomerOut:
    """An identity that is all of another customer brings that customer along (a merge);
    a 409 when it, or its phone number, belongs to a customer with more to it."""

    return await _changed(
        state,
        principal,
        customer_id,
        lambda session: service.link_identity(
            session, state.settings, principal, customer_id, body, utcnow()
        ),
    )


@router.post(
    "/{customer_id}/merge",
    operation_id="customers_merge",
    summary="Absorb another customer: its identities and conversations move here",
    response_model=MergeOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ACT,
)
async def merge_customers(
    customer_id: uuid.UUID, body: MergeRequest, principal: CurrentPrincipal, state: State
) -> MergeOut:
    """Recorded with who, when, why and exactly what moved; undo it with the merge's id."""

    async def work(session: AsyncSession) -> MergeOut:
        merged = await merges.merge(
            session,
            state.settings,
            principal,
            customer_id,
            body.from_customer,
            body.reason,
            utcnow(),
        )
        return MergeOut.model_validate(merged)

    return await in_transaction(state.sessions, work)


@router.post(
    "/merges/{merge_id}/undo",
    operation_id="customers_undo_merge",
    summary="Undo a merge: each customer gets back exactly what it had",
    response_model=MergeOut,
    responses=_ACT,
)
async def undo_merge(
    merge_id: uuid.UUID, body: UndoRequest, principal: CurrentPrincipal, state: State
) -> MergeOut:
    """Whatever came after the merge (a new conversation, an attribute) stays where it is."""

    async def work(session: AsyncSession) -> MergeOut:
        merged = await merges.undo(
            session, state.settings, principal, merge_id, body.reason, utcnow()
        )
        return MergeOut.model_validate(merged)

    return await in_transaction(state.sessions, work)
