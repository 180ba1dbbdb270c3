"""Why an offer went where it went: one shape, built here, for every path that offers.

An offer's history row says which rule put the conversation in its queue (or who moved it
there), the queue, how every online agent was judged (grouped by verdict, as
`Decision.audit` groups them) and who got it. Arrival, a customer writing again, a reopen,
the drain after capacity frees (a resolve, a decline, an agent coming online), a lapsed
offer moving on, and a person's transfer or assignment all record this same shape:

    {"path": "drain", "rule": "vip", "policy_version": 3, "queue": "billing",
     "outcome": "offer", "agent_id": "...", "reason": "least loaded",
     "candidates": {"eligible (0/3 on sms)": ["..."], "offline": ["..."]}, ...}

`rule` is null when a person moved the conversation to its queue; `moved_by` then says who.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from router.routing.decision import Decision, Outcome


class OfferPath(StrEnum):
    """What made routing offer the conversation."""

    ARRIVAL = "arrival"
    REOPEN = "reopen"
    CUSTOMER_WROTE = "customer wrote"
    DRAIN = "drain"
    LAPSE = "lapse"
    # The owner did not answer within the queue's reply time; the next agent is offered it.
    NO_REPLY = "no reply"
    # An agent's phone rang out, was busy or failed: the next agent's phone rings.
    RING_ENDED = "ring ended"
    TRANSFER = "transfer"
    ASSIGN = "assign"
    DRY_RUN = "dry run"


@dataclass(frozen=True, slots=True)
class Placement:
    """What put the conversation in its queue: a policy rule, or a person's move."""

    rule: str | None
    policy_version: int | None
    overflow_from: str | None = None
    moved_by: str | None = None


# Nothing recorded (a conversation older than these records): the explanation says so.
UNKNOWN_PLACEMENT = Placement(rule=None, policy_version=None)


def explain_offer(
    decision: Decision,
    placement: Placement,
    path: OfferPath,
    *,
    offered_to: str | None = None,
    reason: str | None = None,
) -> dict[str, object]:
    """The explanation kept in an offer's history row.

    `offered_to` and `reason` name the agent a person chose over routing's own choice (a
    transfer or an assignment); the candidates are still every agent routing judged.
    """
    explanation: dict[str, object] = {
        "path": path.value,
        "rule": placement.rule,
        "policy_version": placement.policy_version,
    }
    if placement.overflow_from is not None:
        explanation["overflow_from"] = placement.overflow_from
    if placement.moved_by is not None:
        explanation["moved_by"] = placement.moved_by
    explanation.update(decision.audit())
    if offered_to is not None:
        explanation["outcome"] = Outcome.OFFER.value
        explanation["agent_id"] = offered_to
        explanation["routing_choice"] = decision.agent_id
    if reason is not None:
        explanation["reason"] = reason
    return explanation


# The latest change that put each conversation in its queue: the policy's choice (a
# `queued` row naming its rule), a person's move to a queue, or an overflow after waiting.
_PLACEMENTS = """
SELECT DISTINCT ON (conversation_id) conversation_id, kind, actor_kind, actor_id, details::text
FROM conversation_events
WHERE conversation_id = ANY($1::uuid[])
  AND ((kind = 'queued' AND details ? 'rule')
       OR (kind IN ('transferred', 'reassigned') AND details ->> 'to_queue' IS NOT NULL)
       OR kind = 'overflowed')
ORDER BY conversation_id, id DESC
"""


async def read_placements(
    connection: Any, conversation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Placement]:
    """What put each conversation in its queue, read from its history in one statement.

    `connection` is the driver connection (see `router.db.driver_connection`).
    """
    if not conversation_ids:
        return {}
    found: dict[uuid.UUID, Placement] = {}
    for conversation_id, kind, actor_kind, actor_id, details in await connection.fetch(
        _PLACEMENTS, list(conversation_ids)
    ):
        if kind == "queued":
            stored = json.loads(details)
            version = stored.get("policy_version")
            found[conversation_id] = Placement(
                rule=str(stored["rule"]),
                policy_version=version if isinstance(version, int) else None,
                overflow_from=stored.get("overflow_from"),
            )
        elif kind == "overflowed":
            stored = json.loads(details)
            found[conversation_id] = Placement(
                rule=str(stored.get("rule") or "max_wait"),
                policy_version=None,
                overflow_from=stored.get("from_queue"),
            )
        else:
            who = f"{actor_kind}:{actor_id}" if actor_id else actor_kind
            found[conversation_id] = Placement(
                rule=None, policy_version=None, moved_by=f"{kind} by {who}"
            )
    return found
