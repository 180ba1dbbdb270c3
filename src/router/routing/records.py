"""A conversation as routing changes it: a plain record in routing batches, or the ORM row.

A routing batch reads, decides and writes hundreds of conversations with its own set-based
statements; the ORM's identity map and attribute instrumentation would add nothing there
but their cost (building a mapped `Conversation` was a twentieth of a batch's CPU). The
batch works on `ConversationRecord`s; the sweeps and the agents' actions keep the ORM's
`Conversation`. Both have the attributes of `Routable`, which is all the routing decisions
and `rows` use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Routable(Protocol):
    """What routing reads and changes on a conversation (mapped or plain)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    status: str
    queue_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    offer_state: str | None
    offered_at: datetime | None
    offer_expires_at: datetime | None
    excluded_agents: dict[str, Any]
    last_agent_id: uuid.UUID | None
    priority: int
    waiting_since: datetime
    subject: str | None
    last_message_at: datetime
    resolved_at: datetime | None
    awaiting_reply_since: datetime | None


@dataclass(slots=True, kw_only=True, eq=False)
class ConversationRecord:
    """A conversation's row, read or made by a routing batch and written back by it.

    Compared by identity, like mapped rows: a batch keeps one record per conversation.
    """

    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    status: str
    waiting_since: datetime
    last_message_at: datetime
    created_at: datetime
    queue_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    offer_state: str | None = None
    offered_at: datetime | None = None
    offer_expires_at: datetime | None = None
    excluded_agents: dict[str, Any] = field(default_factory=dict)
    last_agent_id: uuid.UUID | None = None
    priority: int = 0
    subject: str | None = None
    resolved_at: datetime | None = None
    awaiting_reply_since: datetime | None = None
