"""Which identities join one customer without anyone's say: only a proven number or a login."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from router.channels import IdentityKind
from router.customers.linking import Claim, Sender, Source, plan_customers, proven_number
from router.inbound.envelope import CustomerIdentity

NUMBER = "+14155550199"


def _new_ids() -> tuple[list[uuid.UUID], Callable[[], uuid.UUID]]:
    made: list[uuid.UUID] = []

    def new() -> uuid.UUID:
        made.append(uuid.UUID(int=len(made) + 1))
        return made[-1]

    return made, new


def _claim(kind: IdentityKind, value: str, *, normalised: bool | None = None) -> Claim:
    return Claim.of(CustomerIdentity(kind=kind, value=value, normalised=normalised))


def test_only_normalised_phone_and_whatsapp_numbers_prove_a_number() -> None:
    assert (
        proven_number(CustomerIdentity(kind=IdentityKind.WHATSAPP, value=NUMBER, normalised=True))
        == NUMBER
    )
    assert (
        proven_number(CustomerIdentity(kind=IdentityKind.PHONE, value=NUMBER, normalised=True))
        == NUMBER
    )
    # A short code, a sender id, a number the numbering plan cannot place.
    assert (
        proven_number(CustomerIdentity(kind=IdentityKind.PHONE, value="12345", normalised=False))
        is None
    )
    assert proven_number(CustomerIdentity(kind=IdentityKind.PHONE, value=NUMBER)) is None
    # An email or a platform id never is a number, whatever it looks like.
    assert (
        proven_number(CustomerIdentity(kind=IdentityKind.WEBCHAT, value=NUMBER, normalised=True))
        is None
    )
    assert (
        proven_number(CustomerIdentity(kind=IdentityKind.MESSENGER, value=NUMBER, normalised=True))
        is None
    )


def test_whatsapp_joins_the_customer_of_the_phone_with_the_same_number() -> None:
    customer = uuid.uuid4()
    whatsapp = _claim(IdentityKind.WHATSAPP, NUMBER, normalised=True)
    plan = plan_customers([Sender(whatsapp)], {}, {NUMBER: customer})
    assert plan.new_customers == {}
    [added] = plan.identities
    assert (added.customer_id, added.claim, added.source) == (
        customer,
        whatsapp,
        Source.SAME_NUMBER,
    )
    assert plan.numbers == {}


def test_the_first_of_two_in_one_batch_makes_the_customer_the_second_joins() -> None:
    made, new = _new_ids()
    sms = _claim(IdentityKind.PHONE, NUMBER, normalised=True)
    whatsapp = _claim(IdentityKind.WHATSAPP, NUMBER, normalised=True)
    plan = plan_customers([Sender(sms), Sender(whatsapp)], {}, {}, new)
    assert list(plan.new_customers) == made
    assert len(made) == 1
    assert [(item.customer_id, item.source) for item in plan.identities] == [
        (made[0], Source.FIRST_CONTACT),
        (made[0], Source.SAME_NUMBER),
    ]
    assert plan.numbers == {NUMBER: made[0]}


def test_nothing_else_links_two_senders() -> None:
    made, new = _new_ids()
    senders = [
        # The same display name on two numbers.
        Sender(Claim(("phone", "+14155550101"), "Ada Lovelace", "+14155550101")),
        Sender(Claim(("phone", "+14155550102"), "Ada Lovelace", "+14155550102")),
        # Similar addresses, a shared domain.
        Sender(_claim(IdentityKind.EMAIL, "ada@example.com")),
        Sender(_claim(IdentityKind.EMAIL, "ada@example.org")),
        Sender(_claim(IdentityKind.EMAIL, "bob@example.com")),
        # A short code on SMS and the same text as a WhatsApp sender nobody normalised.
        Sender(_claim(IdentityKind.PHONE, "12345", normalised=False)),
        Sender(_claim(IdentityKind.WHATSAPP, "12345", normalised=False)),
        # A normalised number and the same text kept as given elsewhere.
        Sender(_claim(IdentityKind.WHATSAPP, NUMBER, normalised=True)),
        Sender(_claim(IdentityKind.PHONE, NUMBER, normalised=False)),
        # A web-chat visitor id that happens to be the number.
        Sender(_claim(IdentityKind.WEBCHAT, NUMBER)),
    ]
    plan = plan_customers(senders, {}, {}, new)
    assert len(made) == len(senders)
    assert len({item.customer_id for item in plan.identities}) == len(senders)
    assert {item.source for item in plan.identities} == {Source.FIRST_CONTACT}


def test_a_known_sender_keeps_its_customer_and_claims_its_number_once() -> None:
    customer = uuid.uuid4()
    sms = _claim(IdentityKind.PHONE, NUMBER, normalised=True)
    plan = plan_customers([Sender(sms), Sender(sms)], {sms.identity: customer}, {})
    assert plan.identities == []
    assert plan.new_customers == {}
    assert plan.numbers == {NUMBER: customer}


def test_verified_identities_join_the_senders_customer_or_bring_the_sender_to_theirs() -> None:
    made, new = _new_ids()
    visitor = _claim(IdentityKind.WEBCHAT, "v_1")
    email = _claim(IdentityKind.EMAIL, "ada@example.com")
    phone = _claim(IdentityKind.PHONE, NUMBER, normalised=True)
    plan = plan_customers([Sender(visitor, (email, phone))], {}, {}, new)
    [customer] = made
    assert [(item.claim, item.source) for item in plan.identities] == [
        (visitor, Source.FIRST_CONTACT),
        (email, Source.VERIFIED_LOGIN),
        (phone, Source.VERIFIED_LOGIN),
    ]
    assert {item.customer_id for item in plan.identities} == {customer}
    assert plan.numbers == {NUMBER: customer}

    # A new visitor whose verified email is known joins that email's customer.
    known = uuid.uuid4()
    plan = plan_customers([Sender(visitor, (email,))], {email.identity: known}, {})
    assert [(i.customer_id, i.claim, i.source) for i in plan.identities] == [
        (known, visitor, Source.VERIFIED_LOGIN)
    ]


def test_a_verified_identity_of_another_customer_is_left_where_it_is() -> None:
    visitor_customer, other = uuid.uuid4(), uuid.uuid4()
    visitor = _claim(IdentityKind.WEBCHAT, "v_1")
    email = _claim(IdentityKind.EMAIL, "ada@example.com")
    phone = _claim(IdentityKind.PHONE, NUMBER, normalised=True)
    plan = plan_customers(
        [Sender(visitor, (email, phone))],
        {visitor.identity: visitor_customer, email.identity: other},
        {NUMBER: other},
    )
    assert plan.identities == []
    assert plan.numbers == {}
    assert [(r.customer_id, r.identity, r.owner) for r in plan.refusals] == [
        (visitor_customer, email.identity, other),
        (visitor_customer, phone.identity, other),
    ]


def test_a_number_lost_to_another_router_makes_its_customer_the_winners() -> None:
    _made, new = _new_ids()
    whatsapp = _claim(IdentityKind.WHATSAPP, NUMBER, normalised=True)
    plan = plan_customers([Sender(whatsapp)], {}, {}, new)
    winner = uuid.uuid4()
    after = plan.after_lost_numbers({NUMBER: winner})
    assert after.new_customers == {}
    assert after.numbers == {}
    assert [(item.customer_id, item.claim) for item in after.identities] == [(winner, whatsapp)]

    # An existing customer's verified number lost to another: that identity is not added.
    customer = uuid.uuid4()
    visitor = _claim(IdentityKind.WEBCHAT, "v_1")
    phone = _claim(IdentityKind.PHONE, NUMBER, normalised=True)
    plan = plan_customers([Sender(visitor, (phone,))], {visitor.identity: customer}, {})
    assert plan.after_lost_numbers({NUMBER: winner}).identities == []
