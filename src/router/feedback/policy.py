"""What a survey is and when one is sent: pure decisions over the settings document.

The settings are one document, versioned like the routing policy: a default, overridden per
channel, then per queue. A survey is off where the channel or the queue switches it off.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from router.channels import Channel
from router.inbound.storable import unstorable


class SurveyKind(StrEnum):
    """Customer satisfaction (1-5), customer effort (1-7) or net promoter score (0-10)."""

    CSAT = "csat"
    CES = "ces"
    NPS = "nps"

    @property
    def scale(self) -> range:
        """The scores an answer may give."""
        return _SCALES[self]


_SCALES = {SurveyKind.CSAT: range(1, 6), SurveyKind.CES: range(1, 8), SurveyKind.NPS: range(0, 11)}

DEFAULT_QUESTIONS = {
    SurveyKind.CSAT: "How satisfied are you with the help you received?",
    SurveyKind.CES: "How easy was it to get your issue resolved?",
    SurveyKind.NPS: "How likely are you to recommend us to a friend or colleague?",
}
_SCALE_WORDS = {
    SurveyKind.CSAT: ("very unsatisfied", "very satisfied"),
    SurveyKind.CES: ("very difficult", "very easy"),
    SurveyKind.NPS: ("not at all likely", "extremely likely"),
}
DEFAULT_THANKS = "Thank you for your feedback!"

# Messaging and SMS: answered by a number in a message. Email and web chat: by a link.
ANSWERED_BY_MESSAGE = frozenset(
    {Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM, Channel.SMS}
)
ANSWERED_BY_LINK = frozenset({Channel.EMAIL, Channel.CHAT})


def _storable(value: str) -> str:
    # PostgreSQL holds neither NUL nor a lone surrogate: refuse them here, naming the field.
    problem = unstorable(value)
    if problem:
        raise ValueError(problem)
    return value


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
    AfterValidator(_storable),
]
DELAY_MAX_SECONDS = 7 * 24 * 3600


class SurveyOverride(BaseModel):
    """What a channel or a queue changes; anything left out keeps the value above it."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None
    kind: SurveyKind | None = None
    question: Text | None = None
    thanks: Text | None = None
    delay_seconds: Annotated[StrictInt, Field(ge=0, le=DELAY_MAX_SECONDS)] | None = None


class SurveySettings(BaseModel):
    """The survey settings document: a default, and overrides per channel and per queue."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = False
    kind: SurveyKind = SurveyKind.CSAT
    question: Text | None = Field(
        default=None, description="the question; unset: the kind's default question"
    )
    thanks: Text = DEFAULT_THANKS
    delay_seconds: StrictInt = Field(default=0, ge=0, le=DELAY_MAX_SECONDS)
    expires_hours: StrictInt = Field(
        default=72, ge=1, le=24 * 90, description="how long a sent survey may be answered"
    )
    channels: dict[Channel, SurveyOverride] = Field(default_factory=dict)
    queues: dict[uuid.UUID, SurveyOverride] = Field(default_factory=dict)


@dataclass(frozen=True)
class SurveyPlan:
    """The survey one resolution gets."""

    kind: SurveyKind
    question: str
    thanks: str
    delay_seconds: int
    expires_hours: int
    by_link: bool


def plan_for(
    settings: SurveySettings, channel: Channel, queue_id: uuid.UUID | None
) -> SurveyPlan | None:
    """The survey of a conversation on `channel` resolved in `queue_id`, or None when off.

    Off when the channel or the queue says so; on when either says so, else as the default
    says. A call has no written answer: never on voice.
    """
    if channel not in ANSWERED_BY_MESSAGE and channel not in ANSWERED_BY_LINK:
        return None
    layers = [settings.channels.get(channel), settings.queues.get(queue_id) if queue_id else None]
    switches = [layer.enabled for layer in layers if layer is not None]
    if False in switches or (not settings.enabled and True not in switches):
        return None
    kind, question, thanks, delay = (
        settings.kind,
        settings.question,
        settings.thanks,
        settings.delay_seconds,
    )
    for layer in layers:
        if layer is None:
            continue
        if layer.kind is not None and layer.kind != kind:
            kind, question = layer.kind, None  # another scale needs its own question
        question = layer.question or question
        thanks = layer.thanks or thanks
        delay = layer.delay_seconds if layer.delay_seconds is not None else delay
    return SurveyPlan(
        kind=kind,
        question=question or DEFAULT_QUESTIONS[kind],
        thanks=thanks,
        delay_seconds=delay,
        expires_hours=settings.expires_hours,
        by_link=channel in ANSWERED_BY_LINK,
    )


def scale_hint(kind: SurveyKind) -> str:
    """How to answer in a message: the range and what its ends mean."""
    low, high = _SCALE_WORDS[kind]
    scale = kind.scale
    return (
        f"Reply with a number from {scale.start} ({low}) to {scale.stop - 1} ({high}),"
        " and a comment if you like."
    )


def scale_labels(kind: SurveyKind) -> tuple[str, str]:
    """What the lowest and the highest score mean, for the answer page."""
    return _SCALE_WORDS[kind]


# A number first, then anything: "5", "5 thanks!", "4 - slow but good", "10/10", "3."; not
# "3.5", "5pm" or "2020".
_ANSWER = re.compile(
    r"\s*(\d{1,2})(?![.,]?\d)(?=$|[\s\-:.,!)/\u2013\u2014])(?:\s*/\s*\d{1,2})?"
    r"\s*[-:.,!)\u2013\u2014]*\s*(.*)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Answer:
    score: int
    comment: str | None


def read_answer(text: str, kind: SurveyKind) -> Answer | None:
    """The score and comment a message gives, or None when it is not an answer in range."""
    match = _ANSWER.fullmatch(text)
    if match is None:
        return None
    score = int(match.group(1))
    if score not in kind.scale:
        return None
    comment = match.group(2).strip()
    return Answer(score=score, comment=comment[:2000] or None)
