"""Bodies of the supervisor and administrator API.

Request bodies forbid unknown fields: presence, load, owners and timestamps are not
writable here; they change only through the actions and the routing engine.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from router.channels import Channel, Presence
from router.console.schemas import ChannelLoad, Text
from router.inbound.storable import unstorable
from router.routing.decision import WaitingOrder
from router.routing.hours import BusinessHours
from router.routing.policy import RoutingPolicy, RoutingRule
from router.voice.schemas import AgentVoice, QueueVoice

Handle = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
QueueName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
SkillName = Annotated[Text, Field(min_length=1, max_length=100)]
# Strict: JSON `true` or `"3"` is not a number here (pydantic would take them as 1 and 3).
Level = Annotated[StrictInt, Field(ge=0, le=100)]
Language = Annotated[
    str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$")
]
Slots = Annotated[StrictInt, Field(ge=0, le=1000)]
Priority = Annotated[StrictInt, Field(ge=-1000, le=1000)]
Reason = Annotated[Text, Field(min_length=1, max_length=500)]
# A queue's time limits: from a second to thirty days.
Seconds = Annotated[StrictInt, Field(ge=1, le=30 * 24 * 3600)]
Grace = Annotated[StrictInt, Field(ge=0, le=30 * 24 * 3600)]
OnOwnerAway = Literal["keep", "requeue_after"]
OnNoReply = Literal["flag", "requeue", "next_agent"]

_ON_OWNER_AWAY = (
    "What becomes of an agent's accepted conversations when they go away or offline: `keep`"
    " them, or `requeue_after` owner_away_grace_seconds (back to the queue, keeping their"
    " place, once the customer is waiting for an answer)"
)
_GRACE = "How long the owner may be away or offline first; required with requeue_after only"
_REPLY_TIME = (
    "How long the owner has to answer a customer's message before the conversation is"
    " flagged (reply_overdue); null: not watched"
)
_ON_NO_REPLY = (
    "After the flag: `flag` only, `requeue` (back to the queue) or `next_agent` (offered to"
    " the next eligible agent); the silent owner is left out of its offers for a while"
)
_ORDER_WAITING = (
    "Within one priority, offer waiting conversations by `arrival` (oldest first) or by"
    " `sla_due` (the nearest SLA due time first; those without an SLA clock after them)"
)
_MAX_WAIT = (
    "A conversation waiting longer than this moves to overflow_queue_id (keeping its arrival"
    " time); null: only closed hours overflow"
)


def _unstorable_path(value: object, path: str) -> tuple[str, str] | None:
    """The first string (key or value) PostgreSQL cannot store in `value`: (path, why)."""
    if isinstance(value, str):
        problem = unstorable(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_path(key, f"{path} key") or _unstorable_path(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = _unstorable_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentCreate(_Request):
    handle: Handle
    display_name: Name
    skills: dict[SkillName, Level] = Field(default_factory=dict)
    languages: list[Language] = Field(default_factory=list, max_length=20)
    capacity: dict[Channel, Slots] = Field(
        default_factory=dict, description="Active conversations the agent takes per channel"
    )
    queue_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    voice: AgentVoice = Field(
        default_factory=AgentVoice, description="Where and how long live calls ring the agent"
    )


class AgentUpdate(_Request):
    """Only the fields present change; `capacity` replaces the whole per-channel map."""

    display_name: Name | None = None
    skills: dict[SkillName, Level] | None = None
    languages: list[Language] | None = Field(default=None, max_length=20)
    capacity: dict[Channel, Slots] | None = None
    queue_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    voice: AgentVoice | None = None


class AgentDetail(BaseModel):
    id: uuid.UUID
    handle: str
    display_name: str
    presence: Presence
    skills: dict[str, int]
    languages: list[str]
    load: list[ChannelLoad]
    queue_ids: list[uuid.UUID]
    voice: AgentVoice
    on_call_since: datetime | None = Field(description="Set while the agent talks on a live call")
    created_at: datetime


class QueueCreate(_Request):
    name: QueueName
    required_skills: dict[SkillName, Level] = Field(default_factory=dict)
    language: Language | None = None
    priority: Priority = 0
    business_hours: BusinessHours | None = Field(
        default=None, description="Weekly hours in the queue's time zone; null: always open"
    )
    overflow_queue_id: uuid.UUID | None = Field(
        default=None,
        description="Where conversations go while this queue is closed or past max_wait_seconds",
    )
    on_owner_away: OnOwnerAway = Field(default="keep", description=_ON_OWNER_AWAY)
    owner_away_grace_seconds: Grace | None = Field(default=None, description=_GRACE)
    reply_time_seconds: Seconds | None = Field(default=None, description=_REPLY_TIME)
    on_no_reply: OnNoReply = Field(default="flag", description=_ON_NO_REPLY)
    max_wait_seconds: Seconds | None = Field(default=None, description=_MAX_WAIT)
    order_waiting: WaitingOrder = Field(default=WaitingOrder.ARRIVAL, description=_ORDER_WAITING)
    voice: QueueVoice = Field(
        default_factory=QueueVoice, description="What callers hear; what agents on calls get"
    )


class QueueUpdate(_Request):
    """Only the fields present change; send null to clear hours, language, overflow or a limit.

    `on_owner_away`, `on_no_reply` and `order_waiting` always have a value (null is refused).
    """

    name: QueueName | None = None
    required_skills: dict[SkillName, Level] | None = None
    language: Language | None = None
    priority: Priority | None = None
    business_hours: BusinessHours | None = None
    overflow_queue_id: uuid.UUID | None = None
    on_owner_away: OnOwnerAway | None = Field(default=None, description=_ON_OWNER_AWAY)
    owner_away_grace_seconds: Grace | None = Field(default=None, description=_GRACE)
    reply_time_seconds: Seconds | None = Field(default=None, description=_REPLY_TIME)
    on_no_reply: OnNoReply | None = Field(default=None, description=_ON_NO_REPLY)
    max_wait_seconds: Seconds | None = Field(default=None, description=_MAX_WAIT)
    order_waiting: WaitingOrder | None = Field(default=None, description=_ORDER_WAITING)
    voice: QueueVoice | None = None

    @model_validator(mode="after")
    def _rules_have_values(self) -> QueueUpdate:
        for name in ("on_owner_away", "on_no_reply", "order_waiting"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name}: give a value; it cannot be cleared")
        return self


class QueueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    required_skills: dict[str, int]
    language: str | None
    priority: int
    business_hours: dict[str, Any] | None
    overflow_queue_id: uuid.UUID | None
    on_owner_away: OnOwnerAway
    owner_away_grace_seconds: int | None
    reply_time_seconds: int | None
    on_no_reply: OnNoReply
    max_wait_seconds: int | None
    order_waiting: WaitingOrder
    voice: QueueVoice
    created_at: datetime


class ServingAgent(BaseModel):
    id: uuid.UUID
    handle: str
    presence: Presence
    load: list[ChannelLoad]


class QueueOverview(BaseModel):
    id: uuid.UUID
    name: str
    backlog: int = Field(description="Open conversations waiting for an agent")
    offered: int
    accepted: int
    oldest_waiting_since: datetime | None
    oldest_waiting_seconds: float | None
    agents: list[ServingAgent]


class PolicyDraft(_Request):
    """A new routing policy; the server gives it the next version number."""

    rules: list[RoutingRule] = Field(default_factory=list, max_length=500)
    default_queue: QueueName
    default_priority: StrictInt = 0
    comment: Annotated[Text | None, Field(max_length=1000)] = None

    @model_validator(mode="after")
    def _storable_everywhere(self) -> PolicyDraft:
        # Rules are stored as JSONB, which holds neither NUL nor a lone surrogate anywhere.
        for name, value in self.model_dump(include={"rules", "default_queue"}).items():
            found = _unstorable_path(value, name)
            if found:
                raise ValueError(f"{found[0]}: {found[1]}")
        return self


class PolicyVersion(BaseModel):
    version: int
    active: bool
    policy: RoutingPolicy
    created_by: str
    created_at: datetime | None
    comment: str | None


class AssignRequest(_Request):
    """Exactly one target: an agent (who gets it accepted) or a queue (it waits there)."""

    agent_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignRequest:
        if (self.agent_id is None) == (self.queue_id is None):
            raise ValueError("name exactly one target: agent_id or queue_id")
        return self


class PolicyRestore(_Request):
    """Why an earlier version of the routing policy comes back."""

    reason: Reason


AttributeValue = Annotated[str, Field(max_length=1000)] | bool | StrictInt


class DryRunRequest(_Request):
    """A sample conversation to route without routing it; `policy`: a draft to try instead."""

    channel: Channel
    recipient: Annotated[Text, Field(max_length=500)] = ""
    customer_attributes: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=100)], AttributeValue],
        Field(max_length=100),
    ] = Field(default_factory=dict)
    text: Annotated[Text, Field(max_length=20_000)] = ""
    policy: PolicyDraft | None = None


class DryRunAnswer(BaseModel):
    """What routing would do with the sample now; nothing was changed to find out."""

    policy_version: int | None = Field(description="The active version's, or null for a draft")
    rule: str
    queue: str
    overflow_from: str | None = None
    priority: int
    outcome: str = Field(description="`offer` (to `agent_id`) or `wait` (in the queue)")
    agent_id: str | None = Field(description="Who would get the offer")
    reason: str
    candidates: dict[str, list[str]] = Field(
        description="Every online agent, grouped by verdict: {verdict: [agent ids]}"
    )
