"""Which identities are provably one person, and how a batch's senders join customers.

Pure decisions over plain data; `router.customers.intake` reads and writes what they say.
Only two things join identities without a person's say: the same E.164 number behind a
phone (SMS, voice) and a WhatsApp identity, and identities the company's own login verified.
A display name, a similar address or a shared email domain never does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from router.channels import IdentityKind
from router.inbound.envelope import CustomerIdentity

Identity = tuple[str, str]

# Kinds whose value, when normalised, is the E.164 number the person answers on.
NUMBER_KINDS = frozenset({IdentityKind.PHONE, IdentityKind.WHATSAPP})


class Source(StrEnum):
    """Why an identity belongs to its customer."""

    FIRST_CONTACT = "first_contact"
    SAME_NUMBER = "same_number"
    VERIFIED_LOGIN = "verified_login"
    AGENT = "agent"


def proven_number(identity: CustomerIdentity) -> str | None:
    """The E.164 number an identity proves, if it proves one (short codes never do)."""
    if identity.kind in NUMBER_KINDS and identity.normalised is True:
        return identity.value
    return None


@dataclass(frozen=True, slots=True)
class Claim:
    """An identity a message brought, and the number it proves."""

    identity: Identity
    name: str | None
    number: str | None

    @classmethod
    def of(cls, identity: CustomerIdentity) -> Claim:
        """The claim an envelope's identity makes."""
        return cls(
            (identity.kind.value, identity.value), identity.display_name, proven_number(identity)
        )


@dataclass(frozen=True, slots=True)
class Sender:
    """A message's sender and the identities the company's login verified for them."""

    claim: Claim
    verified: tuple[Claim, ...] = ()


@dataclass(frozen=True, slots=True)
class NewIdentity:
    customer_id: uuid.UUID
    claim: Claim
    source: Source


@dataclass(frozen=True, slots=True)
class Refusal:
    """A verified identity left alone because it belongs to another customer."""

    customer_id: uuid.UUID
    identity: Identity
    owner: uuid.UUID


@dataclass
class Plan:
    """What a batch writes so every sender has a customer."""

    new_customers: dict[uuid.UUID, str | None] = field(default_factory=dict)
    identities: list[NewIdentity] = field(default_factory=list)
    numbers: dict[str, uuid.UUID] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)

    def after_lost_numbers(self, winners: Mapping[str, uuid.UUID]) -> Plan:
        """The plan once another router process claimed some of its numbers first.

        A customer this batch would have created for such a number is the winner's instead;
        an identity to add to an existing customer under a number now someone else's is not
        added (it would be that person's, not this customer's).
        """
        renamed: dict[uuid.UUID, uuid.UUID] = {}
        dropped: set[str] = set()
        for number, winner in winners.items():
            ours = self.numbers[number]
            if ours in self.new_customers:
                renamed[ours] = winner
            elif ours != winner:
                dropped.add(number)
        plan = Plan(
            new_customers={
                cid: name for cid, name in self.new_customers.items() if cid not in renamed
            },
            numbers={n: c for n, c in self.numbers.items() if n not in winners},
            refusals=list(self.refusals),
        )
        for item in self.identities:
            if item.claim.number in dropped:
                continue
            customer = renamed.get(item.customer_id, item.customer_id)
            plan.identities.append(NewIdentity(customer, item.claim, item.source))
        return plan


def plan_customers(
    senders: Sequence[Sender],
    identities: Mapping[Identity, uuid.UUID],
    numbers: Mapping[str, uuid.UUID],
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Plan:
    """Find or make each sender's customer from the identities and numbers already known.

    A sender already known keeps its customer. Else it joins the customer of its proven
    number, else the customer of an identity its login verified, else a new customer. Its
    verified identities not yet known join its customer; one known elsewhere is refused.
    """
    known = dict(identities)
    owners = dict(numbers)
    plan = Plan()

    def claim_number(claim: Claim, customer: uuid.UUID) -> None:
        if claim.number is not None and claim.number not in owners:
            owners[claim.number] = plan.numbers[claim.number] = customer

    for sender in senders:
        claim = sender.claim
        customer = known.get(claim.identity)
        if customer is None:
            source = Source.FIRST_CONTACT
            if claim.number is not None and claim.number in owners:
                customer, source = owners[claim.number], Source.SAME_NUMBER
            else:
                customer = _verified_owner(sender.verified, known, owners)
                if customer is not None:
                    source = Source.VERIFIED_LOGIN
            if customer is None:
                customer = new_id()
                plan.new_customers[customer] = claim.name
            known[claim.identity] = customer
            plan.identities.append(NewIdentity(customer, claim, source))
        claim_number(claim, customer)
        for extra in sender.verified:
            owner = known.get(extra.identity)
            if owner is None and extra.number is not None:
                owner = owners.get(extra.number)
            if owner is None:
                known[extra.identity] = customer
                plan.identities.append(NewIdentity(customer, extra, Source.VERIFIED_LOGIN))
                claim_number(extra, customer)
            elif owner != customer:
                plan.refusals.append(Refusal(customer, extra.identity, owner))
    return plan


def _verified_owner(
    verified: Sequence[Claim],
    identities: Mapping[Identity, uuid.UUID],
    numbers: Mapping[str, uuid.UUID],
) -> uuid.UUID | None:
    for extra in verified:
        owner = identities.get(extra.identity)
        if owner is None and extra.number is not None:
            owner = numbers.get(extra.number)
        if owner is not None:
            return owner
    return None
