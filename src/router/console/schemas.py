"""Request and response bodies of the console API.

Request bodies forbid unknown fields and never carry an owner, a status or a timestamp:
those change only through the actions that own them (accept, transfer, resolve ...).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from router.channels import Channel, Presence
from router.feedback.schemas import FeedbackOut
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
    failed_replies: int = Field(
        description="Replies that ended `failed` and were not retried (see `reply_failed`"
        " events; `POST …/replies/{message_id}/retry`)"
    )
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
    delivery_status: str | None = Field(
        description="Replies: queued, sent, delivered, read or failed"
    )
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
    template: dict[str, Any] | None = Field(
        default=None,
        description="A WhatsApp template sent: its `name`, `language` and `parameters`",
    )
    visibility: str | None = Field(
        default=None,
        description="A reply to a comment or mention: `public` (under it) or `private`",
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
    feedback: list[FeedbackOut] = Field(
        default_factory=list, description="the customer's answers to its surveys, oldest first"
    )


class ResolveRequest(_Request):
    reason: Reason | None = None
    survey: bool = Field(
        default=True,
        strict=True,
        description="false: no feedback survey for this resolve, whatever the settings say",
    )


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


class TemplateRequest(_Request):
    """An approved WhatsApp template, by the name and language it was approved under."""

    name: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")]
    language: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,4})?$",
            description="The template's language code, as approved: `en`, `en_US`, `pt_BR`",
        ),
    ]
    parameters: list[Annotated[Text, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list,
        max_length=100,
        description="The body's variables {{1}}, {{2}} ... in order",
    )

    def readable(self) -> str:
        """How the message reads in the conversation's history."""
        shown = f"[template {self.name} ({self.language})]"
        return shown + (" " + " | ".join(self.parameters) if self.parameters else "")

    def stored(self) -> dict[str, Any]:
        """What the message row keeps (`details.template`) and the sender sends from."""
        return {"name": self.name, "language": self.language, "parameters": self.parameters}


class ReplyRequest(_Request):
    """Exactly one of `text` and `template` (WhatsApp only)."""

    text: Annotated[Text | None, Field(min_length=1, max_length=20_000)] = None
    template: TemplateRequest | None = Field(
        default=None,
        description="WhatsApp: an approved template, the only message allowed more than 24 h"
        " after the customer's last message",
    )
    subject: Annotated[Text | None, Field(max_length=998)] = Field(
        default=None, description="Email only; default: Re: the conversation's subject"
    )
    attachment_ids: Annotated[list[uuid.UUID], Field(max_length=10)] = Field(
        default=[],
        description="Files uploaded to this conversation (POST .../attachments) to send with it",
    )
    visibility: Literal["public", "private"] | None = Field(
        default=None,
        description="Comments and mentions: `public` (default), under the comment, or"
        " `private`, a message to its author (once per comment, within 7 days)",
    )

    @model_validator(mode="after")
    def _text_or_template(self) -> ReplyRequest:
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of text and template")
        return self


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


OUTREACH_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)
E164 = r"^\+[1-9][0-9]{6,14}$"


class IdentityRequest(_Request):
    """How to reach the customer; the customer is found by it, or created."""

    kind: Annotated[str, Field(pattern="^(email|phone|whatsapp)$")]
    value: Annotated[
        Text,
        Field(
            min_length=3,
            max_length=320,
            description="An email address, or an E.164 number (`+14155550199`)",
        ),
    ]
    display_name: Annotated[Text | None, Field(max_length=200)] = None


class CustomerRequest(_Request):
    """Exactly one: a known customer's `id`, or an `identity` to find or create them by."""

    id: uuid.UUID | None = None
    identity: IdentityRequest | None = None

    @model_validator(mode="after")
    def _one(self) -> CustomerRequest:
        if (self.id is None) == (self.identity is None):
            raise ValueError("give exactly one of id and identity")
        return self


class FirstMessageRequest(_Request):
    """Email: `subject` and `text`; SMS: `text`; WhatsApp: an approved `template`."""

    text: Annotated[Text | None, Field(min_length=1, max_length=20_000)] = None
    subject: Annotated[Text | None, Field(min_length=1, max_length=998)] = None
    template: TemplateRequest | None = None


class OutreachRequest(_Request):
    """A conversation the company starts; its first message goes out at once."""

    channel: Channel = Field(description="`email`, `sms` or `whatsapp`")
    customer: CustomerRequest
    sender: Annotated[
        Text,
        Field(
            min_length=1,
            max_length=320,
            description="Our side: the email address, the SMS number (E.164), or the WhatsApp"
            " line (the Cloud API's phone number id; the E.164 number through Twilio)",
        ),
    ]
    provider: Annotated[str | None, Field(pattern="^(meta|twilio)$")] = Field(
        default=None, description="WhatsApp only: `meta` (the Cloud API, default) or `twilio`"
    )
    message: FirstMessageRequest
    agent_id: uuid.UUID | None = Field(
        default=None, description="Supervisors: the agent who owns it (an agent: themselves)"
    )
    queue_id: uuid.UUID | None = Field(
        default=None,
        description="Its queue; alone (supervisors), it waits there and is routed like an"
        " arrival. Default for an agent: the first queue they serve",
    )

    @model_validator(mode="after")
    def _fits_the_channel(self) -> OutreachRequest:
        message, channel = self.message, self.channel
        if channel not in OUTREACH_CHANNELS:
            raise ValueError("channel: conversations are started on email, sms or whatsapp")
        if channel is not Channel.WHATSAPP and (message.template or self.provider):
            raise ValueError("message: templates and a provider are for WhatsApp only")
        if channel is Channel.EMAIL and (message.subject is None or message.text is None):
            raise ValueError("message: an email needs a subject and a text")
        if channel is Channel.SMS and message.text is None:
            raise ValueError("message: an SMS needs a text")
        if channel is Channel.WHATSAPP and message.template is None:
            raise ValueError(
                "message: WhatsApp opens a conversation only with an approved template"
            )
        if channel is not Channel.EMAIL and message.subject is not None:
            raise ValueError("message: a subject is for email only")
        if channel is Channel.WHATSAPP and message.text is not None:
            raise ValueError("message: on WhatsApp the template is the message; drop text")
        if channel is Channel.SMS and not re.fullmatch(E164, self.sender):
            raise ValueError("sender: an SMS line is an E.164 number")
        if channel is Channel.WHATSAPP:
            if self.provider == "twilio" and not re.fullmatch(E164, self.sender):
                raise ValueError("sender: a WhatsApp line on Twilio is an E.164 number")
            if self.provider != "twilio" and not self.sender.isdigit():
                raise ValueError("sender: a WhatsApp line on the Cloud API is its phone number id")
        return self


class OutreachOut(BaseModel):
    conversation: ConversationSummary
    message: MessageOut
