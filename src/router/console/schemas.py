"""Request and response bodies of the console API.

Request bodies forbid unknown fields and never carry an owner, a status or a timestamp:
those change only through the actions that own them (accept, transfer, resolve ...).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from router.channels import Channel, Presence
from router.inbound.storable import unstorable
from router.service_levels.schemas import SlaClockOut


def _storable(value: str) -> str:
    # PostgreSQL text holds neither NUL nor a lone surrogate (which a JSON `\ud800` escape
    # gives): refuse them here, naming the field, rather than fail at the database.
    problem = unstorable(value)
    if problem:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_storable)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Reason = Annotated[Text, Field(min_length=1, max_length=500)]


class ConversationSummary(_Response):
    id: uuid.UUID
    channel: Channel
    status: str = Field(description="`open` or `resolved`")
    queue_id: uuid.UUID | None
    agent_id: uuid.UUID | None = Field(description="The agent owning it (offered or accepted)")
    offer_state: str | None = Field(description="`offered`, `accepted`, or null while waiting")
    offered_at: datetime | None
    offer_expires_at: datetime | None
    last_agent_id: uuid.UUID | None
    priority: int
    waiting_since: datetime
    subject: str | None
    last_message_at: datetime
    resolved_at: datetime | None
    created_at: datetime
    slas: list[SlaClockOut] | None = Field(
        default=None,
        description="Its SLA clocks (in lists and the detail); null in the answers of actions",
    )


class ConversationPage(BaseModel):
    items: list[ConversationSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class MessageOut(_Response):
    id: uuid.UUID
    direction: str = Field(description="`inbound`, `outbound` or `internal` (a note)")
    kind: str
    channel: str
    provider: str
    sender: str | None
    recipient: str | None
    author_agent_id: uuid.UUID | None
    subject: str | None
    text: str
    attachments: list[Any]
    delivery_status: str | None = Field(description="Replies: queued, sent, delivered, failed")
    delivery_error: str | None
    call_status: str | None = Field(
        default=None,
        description="Calls: queued, initiated, ringing, in-progress, completed, busy, no-answer,"
        " failed or canceled (the furthest the call got)",
    )
    call_duration_seconds: int | None = Field(
        default=None, description="Calls: how long it lasted, once the provider said"
    )
    call_progress: dict[str, Any] | None = Field(
        default=None,
        description="Live calls: `call_stage` (waiting, ringing, connected, voicemail, ended,"
        " abandoned), `call_attempts` (each ring: agent, offer, when, outcome, seconds),"
        " `answered_by`, `answered_at`, `talk_seconds`, `voicemail_at`, `abandoned_at`",
    )
    created_at: datetime


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class EventOut(_Response):
    id: int
    kind: str
    actor_kind: str
    actor_id: str | None
    agent_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    reason: str
    details: dict[str, Any]
    occurred_at: datetime


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class CustomerOut(_Response):
    id: uuid.UUID
    display_name: str | None


class ConversationDetail(BaseModel):
    conversation: ConversationSummary
    customer: CustomerOut
    messages: MessagePage
    events: EventPage


class ResolveRequest(_Request):
    reason: Reason | None = None


class ReopenRequest(_Request):
    reason: Reason | None = None


class TransferRequest(_Request):
    """Exactly one target: an agent (who gets it as an offer) or a queue (it waits there)."""

    agent_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TransferRequest:
        if (self.agent_id is None) == (self.queue_id is None):
            raise ValueError("name exactly one target: agent_id or queue_id")
        return self


class NoteRequest(_Request):
    text: Annotated[Text, Field(min_length=1, max_length=20_000)]


class ReplyRequest(_Request):
    text: Annotated[Text, Field(min_length=1, max_length=20_000)]
    subject: Annotated[Text | None, Field(max_length=998)] = Field(
        default=None, description="Email only; default: Re: the conversation's subject"
    )


class PresenceRequest(_Request):
    presence: Presence


class ChannelLoad(BaseModel):
    channel: Channel
    capacity: int
    active: int


class AgentOut(_Response):
    id: uuid.UUID
    handle: str
    display_name: str
    presence: Presence
    presence_changed_at: datetime


class MeOut(BaseModel):
    role: str
    key_name: str = Field(description="The API key's name, or the identity token's subject")
    agent: AgentOut | None = Field(description="The agent this key or token acts as, if any")
    load: list[ChannelLoad]
    queue_ids: list[uuid.UUID] = Field(description="Queues the agent serves")
