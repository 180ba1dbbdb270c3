"""Bodies of the supervisor and administrator API.

Request bodies forbid unknown fields: presence, load, owners and timestamps are not
writable here; they change only through the actions and the routing engine.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from router.channels import Channel, Presence
from router.console.schemas import ChannelLoad, Text
from router.inbound.storable import unstorable
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
        default=None, description="Where conversations go while this queue is closed"
    )
    voice: QueueVoice = Field(
        default_factory=QueueVoice, description="What callers hear; what agents on calls get"
    )


class QueueUpdate(_Request):
    """Only the fields present change; send null to clear hours, language or overflow."""

    name: QueueName | None = None
    required_skills: dict[SkillName, Level] | None = None
    language: Language | None = None
    priority: Priority | None = None
    business_hours: BusinessHours | None = None
    overflow_queue_id: uuid.UUID | None = None
    voice: QueueVoice | None = None


class QueueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    required_skills: dict[str, int]
    language: str | None
    priority: int
    business_hours: dict[str, Any] | None
    overflow_queue_id: uuid.UUID | None
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
