"""The routing engine's customers: each sender found or made, in a handful of statements.

One read finds every sender's identity and every proven number of the batch; a batch with
new senders adds customers, numbers and identities with one statement each, and learns
from the identities' insert which of them are its own. Two router
processes meeting the same person at once are kept apart by primary keys: the unique
(kind, value) of an identity and the E.164 number of `customer_numbers`. The loser's insert
waits for the winner's commit and does nothing; its batch then takes the winner's customer
and drops the customers it made for nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from router.customers.linking import Claim, Identity, Plan, Sender, Source, plan_customers
from router.inbound.envelope import InboundMessage
from router.jsontext import compact_json

# Numbers come back with an empty kind, which no identity has. The identities are share-locked:
# a merge moving one of them waits for this batch, and this batch, when a merge got there
# first, waits for it and reads the identity where the merge put it (PostgreSQL re-reads a
# row a locking read waited for), so no message lands on a customer just absorbed.
_FIND = """
WITH identities AS (
    SELECT i.kind, i.value, i.customer_id
    FROM customer_identities AS i
    JOIN unnest($1::text[], $2::text[]) AS u(kind, value)
      ON i.kind = u.kind AND i.value = u.value
    FOR SHARE OF i
)
SELECT kind, value, customer_id FROM identities
UNION ALL
SELECT '', n.number, n.customer_id FROM customer_numbers AS n WHERE n.number = ANY($3::text[])
"""

_INSERT_CUSTOMERS = """
INSERT INTO customers (id, display_name, attributes)
SELECT id, name, '{}'::jsonb FROM unnest($1::uuid[], $2::text[]) AS u(id, name)
"""

_CLAIM_NUMBERS = """
INSERT INTO customer_numbers (number, customer_id)
SELECT number, customer FROM unnest($1::text[], $2::uuid[]) AS u(number, customer)
ORDER BY number
ON CONFLICT (number) DO NOTHING
RETURNING number
"""

_NUMBER_OWNERS = "SELECT number, customer_id FROM customer_numbers WHERE number = ANY($1::text[])"

# Another router may have added the same identity first: its row wins, and is read again.
_INSERT_IDENTITIES = """
INSERT INTO customer_identities (id, customer_id, kind, value, display_name, source)
SELECT gen_random_uuid(), customer, kind, value, name, source
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
    AS u(customer, kind, value, name, source)
ON CONFLICT (kind, value) DO NOTHING
RETURNING kind, value, customer_id
"""

_DROP_CUSTOMERS = "DELETE FROM customers WHERE id = ANY($1::uuid[])"

INSERT_EVENTS = """
INSERT INTO customer_events (customer_id, kind, actor, reason, details, occurred_at)
SELECT customer, kind, actor, reason, details::jsonb, now()
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
    AS u(customer, kind, actor, reason, details)
"""

ROUTER_ACTOR = "router"

_REASONS = {
    Source.SAME_NUMBER: "the same E.164 number as the customer's phone or WhatsApp identity",
    Source.VERIFIED_LOGIN: "verified by the company's own login in the web chat",
}


def _senders(messages: Sequence[InboundMessage]) -> list[Sender]:
    senders: dict[Identity, Sender] = {}
    for message in messages:
        claim = Claim.of(message.customer)
        verified = tuple(Claim.of(item) for item in message.verified_identities or ())
        known = senders.get(claim.identity)
        if known is None:
            senders[claim.identity] = Sender(claim, verified)
        else:
            name = known.claim.name or claim.name
            merged = known.verified + tuple(v for v in verified if v not in known.verified)
            senders[claim.identity] = Sender(Claim(claim.identity, name, claim.number), merged)
    return list(senders.values())


async def _find(
    connection: Any, identities: Sequence[Identity], numbers: Sequence[str]
) -> tuple[dict[Identity, uuid.UUID], dict[str, uuid.UUID]]:
    rows = await connection.fetch(
        _FIND, [kind for kind, _ in identities], [value for _, value in identities], numbers
    )
    found: dict[Identity, uuid.UUID] = {}
    owners: dict[str, uuid.UUID] = {}
    for kind, value, customer in rows:
        if kind:
            found[(kind, value)] = customer
        else:
            owners[value] = customer
    return found, owners


class BatchCustomers(NamedTuple):
    """Each identity's customer, and which of those customers this batch made.

    A customer made by the batch is seen by no other transaction until it commits, has no
    conversation yet and has no attributes: there is nothing to lock or look up for it.
    """

    of: dict[Identity, uuid.UUID]
    made: frozenset[uuid.UUID]


async def customers_of(connection: Any, messages: Sequence[InboundMessage]) -> BatchCustomers:
    """Each sender's customer, found by identity or proven number, or made; links recorded."""
    senders = _senders(messages)
    claims = [claim for sender in senders for claim in (sender.claim, *sender.verified)]
    identities = list(dict.fromkeys(claim.identity for claim in claims))
    numbers = sorted({claim.number for claim in claims if claim.number is not None})
    found, owners = await _find(connection, identities, numbers)
    plan = plan_customers(senders, found, owners)
    if not (plan.identities or plan.numbers):
        return BatchCustomers(found, frozenset())
    made = list(plan.new_customers)
    plan, added = await _write(connection, plan)
    # The identities found first stay share-locked, so they still say the same; the ones
    # another router added first are read (and share-locked) now.
    found.update(added)
    lost = [item.claim.identity for item in plan.identities if item.claim.identity not in found]
    if lost:
        again, _ = await _find(connection, list(dict.fromkeys(lost)), [])
        found.update(again)
    used = await _drop_unused(connection, made, found)
    await _record_links(connection, plan, found)
    return BatchCustomers(found, frozenset(used))


async def _write(connection: Any, plan: Plan) -> tuple[Plan, dict[Identity, uuid.UUID]]:
    """Write the plan; the plan as written and the identities this batch added."""
    if plan.new_customers:
        await connection.execute(
            _INSERT_CUSTOMERS, list(plan.new_customers), list(plan.new_customers.values())
        )
    if plan.numbers:
        claimed = await connection.fetch(
            _CLAIM_NUMBERS, list(plan.numbers), list(plan.numbers.values())
        )
        lost = set(plan.numbers) - {row[0] for row in claimed}
        if lost:
            owners = await connection.fetch(_NUMBER_OWNERS, sorted(lost))
            plan = plan.after_lost_numbers({row[0]: row[1] for row in owners})
    added: dict[Identity, uuid.UUID] = {}
    if plan.identities:
        items = plan.identities
        rows = await connection.fetch(
            _INSERT_IDENTITIES,
            [item.customer_id for item in items],
            [item.claim.identity[0] for item in items],
            [item.claim.identity[1] for item in items],
            [item.claim.name for item in items],
            [item.source.value for item in items],
        )
        added = {(kind, value): customer for kind, value, customer in rows}
    return plan, added


async def _drop_unused(
    connection: Any, made: list[uuid.UUID], found: dict[Identity, uuid.UUID]
) -> list[uuid.UUID]:
    """Drop the customers made for identities or numbers another router added first
    (they are nobody's); the ones kept."""
    used = set(found.values())
    kept = [customer for customer in made if customer in used]
    unused = [customer for customer in made if customer not in used]
    if unused:
        await connection.execute(_DROP_CUSTOMERS, unused)
    return kept


async def _record_links(connection: Any, plan: Plan, found: dict[Identity, uuid.UUID]) -> None:
    rows: list[tuple[uuid.UUID, str, str, str]] = []
    for item in plan.identities:
        if (
            item.source is Source.FIRST_CONTACT
            or found.get(item.claim.identity) != item.customer_id
        ):
            continue
        kind, value = item.claim.identity
        details = {"kind": kind, "value": value, "source": item.source.value}
        rows.append(
            (item.customer_id, "identity_linked", _REASONS[item.source], compact_json(details))
        )
    if rows:
        await connection.execute(
            INSERT_EVENTS,
            [row[0] for row in rows],
            [row[1] for row in rows],
            [ROUTER_ACTOR] * len(rows),
            [row[2] for row in rows],
            [row[3] for row in rows],
        )
