"""The voice settings of agents and queues, as administrators write them and routing reads them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from router.channels import Channel

# Twilio plays audio it can fetch over HTTP(S) only.
MusicUrl = Annotated[str, Field(min_length=8, max_length=2048, pattern=r"^https?://\S+$")]
WaitMessage = Annotated[str, Field(min_length=1, max_length=1000)]
RingSeconds = Annotated[StrictInt, Field(ge=5, le=600)]

DEFAULT_RING_SECONDS = 20
DEFAULT_WAIT_MESSAGE = (
    "All of our team are busy right now. Please leave a message after the tone, "
    "and we will call you back."
)


class EndpointKind(StrEnum):
    """How a live call reaches an agent: a phone number, a SIP URI, or a Twilio Client."""

    NUMBER = "number"
    SIP = "sip"
    CLIENT = "client"


class WhileOnCall(StrEnum):
    """What an agent talking on a live call may still be offered from a queue."""

    ALLOW = "allow"  # anything their capacity allows
    BLOCK_CHAT = "block_chat"  # no chats or messaging (they answer in real time too)
    BLOCK_ALL = "block_all"  # nothing but calls

    def blocks(self, channel: Channel) -> bool:
        """Whether an agent on a call is kept from new work on `channel`."""
        if channel is Channel.VOICE or self is WhileOnCall.ALLOW:
            return False
        return self is WhileOnCall.BLOCK_ALL or channel is not Channel.EMAIL


class QueueVoice(BaseModel):
    """A queue's voice settings: what a caller hears when nobody is free, and on-call rules."""

    model_config = ConfigDict(extra="forbid")

    wait_message: WaitMessage | None = Field(
        default=None,
        description="Said to a caller nobody can take now, before the voicemail tone"
        " (null: a standard message)",
    )
    music_url: MusicUrl | None = Field(
        default=None, description="Audio played to that caller after the wait message"
    )
    while_on_call: WhileOnCall = Field(
        default=WhileOnCall.ALLOW,
        description="What an agent on a live call may still be offered from this queue",
    )


_ENDPOINT_PATTERNS = {
    EndpointKind.NUMBER: r"^\+[1-9][0-9]{6,14}$",
    EndpointKind.SIP: r"^sips?:[^\s<>]+@[^\s<>]+$",
    EndpointKind.CLIENT: r"^[A-Za-z0-9_.-]{1,121}$",
}


class AgentVoice(BaseModel):
    """Where a live call rings an agent, and for how long."""

    model_config = ConfigDict(extra="forbid")

    endpoint_kind: EndpointKind = Field(
        default=EndpointKind.CLIENT,
        description="number (E.164), sip (a sip: URI) or client (a Twilio Client identity)",
    )
    endpoint: str | None = Field(
        default=None,
        max_length=512,
        description="The number, SIP URI or Client identity (null with client: the handle)",
    )
    ring_seconds: RingSeconds = Field(
        default=DEFAULT_RING_SECONDS, description="How long a call rings before it moves on"
    )

    @model_validator(mode="after")
    def _endpoint_fits_its_kind(self) -> AgentVoice:
        if self.endpoint is None:
            if self.endpoint_kind is not EndpointKind.CLIENT:
                raise ValueError(f"endpoint: a {self.endpoint_kind.value} endpoint needs a value")
            return self
        if not re.fullmatch(_ENDPOINT_PATTERNS[self.endpoint_kind], self.endpoint):
            raise ValueError(f"endpoint: not a valid {self.endpoint_kind.value} endpoint")
        return self
