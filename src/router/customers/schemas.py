"""Request and response bodies of `/v1/customers`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from router.channels import Channel, IdentityKind

# The attributes the named fields of a PATCH set; the free key-values may not use them.
NAMED_ATTRIBUTES = ("language", "tier", "crm_id")
MAX_ATTRIBUTES = 50
MAX_TEXT_VALUE = 500

AttributeName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
AttributeValue = (
    Annotated[StrictStr, Field(max_length=MAX_TEXT_VALUE)]
    | StrictBool
    | (Annotated[StrictInt, Field(ge=-(2**53), le=2**53)])
    | StrictFloat
)
Reason = Annotated[str, Field(min_length=1, max_length=1000, description="Why; kept in history")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerPatch(_Request):
    """Attributes to set; a field sent as `null` removes it, a field not sent is left alone.

    `language`, `tier` and `crm_id` are attributes like the free ones, so routing rules
    match them by those names (`"customer_attributes": {"tier": "vip"}`).
    """

    display_name: Annotated[str | None, Field(max_length=200)] = None
    language: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35, examples=["de"]),
    ] = None
    tier: Annotated[str | None, Field(min_length=1, max_length=50, examples=["vip"])] = None
    crm_id: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    attributes: Annotated[
        dict[AttributeName, AttributeValue | None],
        Field(max_length=MAX_ATTRIBUTES, description="Free key-values: JSON scalars; null removes"),
    ] = {}

    @field_validator("attributes")
    @classmethod
    def _not_named(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in NAMED_ATTRIBUTES:
            if name in value:
                raise ValueError(f"{name}: set it with the `{name}` field")
        return value


class IdentityLink(_Request):
    """An identity an agent links to this customer, and the evidence for it."""

    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320)]
    reason: Reason


class MergeRequest(_Request):
    """The customer to absorb into this one."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_customer: uuid.UUID = Field(alias="from", description="The customer absorbed")
    reason: Reason


class UndoRequest(_Request):
    reason: Reason


class _Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IdentityOut(_Response):
    id: uuid.UUID
    kind: str
    value: str
    display_name: str | None
    source: str = Field(description="first_contact, same_number, verified_login or agent")
    created_at: datetime


class CustomerConversationOut(_Response):
    id: uuid.UUID
    channel: Channel
    status: str
    subject: str | None
    created_at: datetime
    last_message_at: datetime


class CustomerEventOut(_Response):
    id: int
    kind: str
    actor: str
    reason: str
    details: dict[str, Any]
    occurred_at: datetime


class CustomerOut(BaseModel):
    """A customer with its identities, attributes, conversations (paged) and history."""

    id: uuid.UUID
    display_name: str | None
    attributes: dict[str, Any]
    merged_into: uuid.UUID | None = Field(description="Set when another customer absorbed it")
    identities: list[IdentityOut]
    conversations: list[CustomerConversationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for more conversations")
    history: list[CustomerEventOut] = Field(description="The latest changes, newest first")


class MergeOut(_Response):
    """A merge: who, when, why, and exactly what moved."""

    id: uuid.UUID
    into_customer_id: uuid.UUID
    from_customer_id: uuid.UUID
    actor: str
    reason: str
    merged_at: datetime
    identities: list[uuid.UUID]
    conversations: list[uuid.UUID]
    numbers: list[str]
    from_display_name: str | None
    from_attributes: dict[str, Any]
    attributes_copied: dict[str, Any]
    undone_at: datetime | None
    undone_by: str | None
    undo_reason: str | None
