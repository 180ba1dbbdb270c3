"""Continuity: which open conversation a new thread joins, and who owned the customer last.

A message on a thread with no conversation joins the customer's open conversation when its
channel's rule says so (`JoinRule`; `ROUTER_JOIN_OPEN_CONVERSATION`), else opens a new one.
A new conversation of a returning customer is offered first to the agent who last owned one
of theirs (`ROUTER_STICKY_OWNER_HOURS`), when that agent is eligible; the offer's history row
says so, or why they were passed over.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from router.channels import JoinRule
from router.routing.decision import Decision, DecisionReason
from router.routing.records import ConversationRecord


class OpenConversations:
    """A batch's view of its customers' open private conversations, newest activity first.

    Conversations the batch opens are noted as it goes, so a second new thread of the same
    customer in the same batch finds the first one's conversation.
    """

    def __init__(self, conversations: Iterable[ConversationRecord]) -> None:
        self._latest: dict[uuid.UUID, ConversationRecord] = {}
        self._on_channel: dict[tuple[uuid.UUID, str], ConversationRecord] = {}
        for conversation in conversations:
            self._keep(conversation, only_if_newer=True)

    def joinable(
        self, customer_id: uuid.UUID, channel: str, rule: JoinRule, active_since: datetime
    ) -> ConversationRecord | None:
        """The open conversation a new thread of this customer joins under `rule`, if any."""
        if rule is JoinRule.NEVER:
            return None
        if rule is JoinRule.SAME_CHANNEL:
            found = self._on_channel.get((customer_id, channel))
        else:
            found = self._latest.get(customer_id)
        if found is None or found.last_message_at < active_since:
            return None
        return found

    def note(self, conversation: ConversationRecord) -> None:
        """The customer just wrote in this open conversation: it is now their latest."""
        self._keep(conversation, only_if_newer=False)

    def _keep(self, conversation: ConversationRecord, *, only_if_newer: bool) -> None:
        customer = conversation.customer_id
        on_channel = (customer, conversation.channel)
        if not only_if_newer or _newer(conversation, self._latest.get(customer)):
            self._latest[customer] = conversation
        if not only_if_newer or _newer(conversation, self._on_channel.get(on_channel)):
            self._on_channel[on_channel] = conversation


def _newer(conversation: ConversationRecord, known: ConversationRecord | None) -> bool:
    return known is None or conversation.last_message_at > known.last_message_at


class LastOwner(NamedTuple):
    """The agent who last owned one of a customer's conversations, and which one."""

    agent_id: uuid.UUID
    conversation_id: uuid.UUID


# A conversation's last activity is its last message or its resolution, whichever is later
# (`greatest` skips the NULL of an open one). The customer-and-activity index answers it.
_LAST_OWNERS = """
SELECT DISTINCT ON (c.customer_id) c.customer_id, c.last_agent_id, c.id
FROM conversations AS c
WHERE c.customer_id = ANY($1::uuid[]) AND c.last_agent_id IS NOT NULL
  AND greatest(c.last_message_at, c.resolved_at) >= $2
ORDER BY c.customer_id, greatest(c.last_message_at, c.resolved_at) DESC, c.id
"""


async def last_owners(
    connection: Any, customer_ids: Collection[uuid.UUID], active_since: datetime
) -> dict[uuid.UUID, LastOwner]:
    """Each customer's last owner among their conversations active since then; one query."""
    if not customer_ids:
        return {}
    rows = await connection.fetch(_LAST_OWNERS, list(customer_ids), active_since)
    return {row[0]: LastOwner(row[1], row[2]) for row in rows}


def previous_owner_audit(
    decision: Decision, previous_owner: uuid.UUID, owned_in: uuid.UUID
) -> dict[str, object]:
    """What became of the previous owner's claim: offered first, or why they were not.

    `owned_in` is the conversation they owned: this one when it reopens, another of the
    customer's when a new one opens.
    """
    agent = str(previous_owner)
    audit: dict[str, object] = {"agent_id": agent, "conversation_id": str(owned_in)}
    if decision.agent_id == agent and decision.reason is DecisionReason.STICKY:
        audit["offered"] = True
        return audit
    if decision.reason is DecisionReason.QUEUE_CLOSED:
        why = DecisionReason.QUEUE_CLOSED.value
    else:
        # The board holds online agents only: one missing from it is not online.
        why = next(
            (verdict.summary for verdict in decision.candidates if verdict.agent_id == agent),
            "not online",
        )
    audit["offered"] = False
    audit["why_not"] = why
    return audit
