"""Customers, the identities they are recognised by on each channel, and how they were joined."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, Timestamped


class Customer(Timestamped, Base):
    """Someone who writes or calls; attributes (VIP, language) feed the routing policy.

    A customer merged into another keeps its row, pointing at the one that absorbed it, so
    the merge can be undone.
    """

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    display_name: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))


class CustomerIdentity(Timestamped, Base):
    """An address, E.164 number or platform user id; one identity belongs to one customer.

    Identities are joined to a customer by an exact (kind, value) match, by the same E.164
    number behind a phone and a WhatsApp identity, or by evidence someone gave (`source`);
    never by a display name.
    """

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # first_contact, same_number, verified_login or agent: why it belongs to its customer.
    source: Mapped[str] = mapped_column(String(32), server_default="first_contact")


class CustomerNumber(Base):
    """An E.164 number proven to reach one person, and that person's customer.

    Phone (SMS, voice) and WhatsApp identities with the same normalised number share it. Its
    primary key is what two router processes race on when both first meet the number.
    """

    __tablename__ = "customer_numbers"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )


class CustomerMerge(Base):
    """One customer absorbed into another: who, when, why, and exactly what moved."""

    __tablename__ = "customer_merges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    into_customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    from_customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    merged_at: Mapped[datetime] = mapped_column()
    # Ids of the identities and conversations, and the numbers, that moved.
    identities: Mapped[list[Any]] = mapped_column(JSONB)
    conversations: Mapped[list[Any]] = mapped_column(JSONB)
    numbers: Mapped[list[Any]] = mapped_column(JSONB)
    # The absorbed customer as it was, and the attributes it gave the one that absorbed it.
    from_display_name: Mapped[str | None] = mapped_column(String(200))
    from_attributes: Mapped[dict[str, Any]] = mapped_column()
    attributes_copied: Mapped[dict[str, Any]] = mapped_column()
    display_name_copied: Mapped[bool] = mapped_column(server_default=text("false"))
    undone_at: Mapped[datetime | None] = mapped_column()
    undone_by: Mapped[str | None] = mapped_column(String(200))
    undo_reason: Mapped[str | None] = mapped_column(Text)


class CustomerEvent(Base):
    """One appended change of a customer: an identity linked, a merge, its undoing, attributes."""

    __tablename__ = "customer_events"
    __table_args__ = (Index("ix_customer_events_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
