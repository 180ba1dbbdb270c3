"""The SLA policy document: which conversations get which response-time targets. Pure.

Policies are listed in order and the first whose `match` fits a conversation gives its
targets; a conversation no policy matches has no SLA clocks. A match with no conditions
fits every conversation (a catch-all, usually last).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from router.channels import Channel

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._ -]+$")]
QueueName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
Tier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
# A target: from a second to ninety days.
TargetSeconds = Annotated[StrictInt, Field(ge=1, le=90 * 24 * 3600)]

# The customer attribute that names the customer's tier ("vip", "gold" ...).
TIER_ATTRIBUTE = "tier"


class Target(StrEnum):
    """What a clock measures."""

    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class Calendar(StrEnum):
    """Which time counts: the queue's business hours, or every second."""

    BUSINESS_HOURS = "business_hours"
    ALWAYS = "always"


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaMatch(_Document):
    """Conditions a conversation must all meet; an empty list or null means any."""

    queues: tuple[QueueName, ...] = Field(default=(), max_length=100)
    channels: tuple[Channel, ...] = Field(default=(), max_length=20)
    min_priority: Annotated[StrictInt, Field(ge=-1000, le=1000)] | None = Field(
        default=None, description="The conversation's priority is at least this"
    )
    customer_tiers: tuple[Tier, ...] = Field(
        default=(),
        max_length=50,
        description=f"The customer's `{TIER_ATTRIBUTE}` attribute is one of these",
    )


class SlaTargets(_Document):
    """Targets in seconds; a target left null is not measured."""

    first_response: TargetSeconds | None = None
    next_response: TargetSeconds | None = Field(
        default=None, description="After each customer message that waits for an answer"
    )
    resolution: TargetSeconds | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> SlaTargets:
        if self.first_response is None and self.next_response is None and self.resolution is None:
            raise ValueError("set at least one of first_response, next_response, resolution")
        return self

    def seconds(self, target: Target) -> int | None:
        """The target's seconds, or None when it is not measured."""
        value: int | None = getattr(self, target.value)
        return value


class SlaPolicy(_Document):
    """One policy: whom it applies to, its targets, and how its clocks count."""

    name: Name
    match: SlaMatch = SlaMatch()
    targets: SlaTargets
    calendar: Calendar = Calendar.ALWAYS
    pause_while_waiting_on_customer: StrictBool = Field(
        default=False,
        description="The resolution clock stops while the last message is the agent's",
    )
    at_risk_seconds: TargetSeconds | None = Field(
        default=None,
        description="How long before a due time `sla.at_risk` is published; null: the setting",
    )


class SlaPolicyDocument(_Document):
    """The policies in order; the first that matches a conversation applies."""

    policies: tuple[SlaPolicy, ...] = Field(default=(), max_length=200)

    @model_validator(mode="after")
    def _names_unique(self) -> SlaPolicyDocument:
        seen: set[str] = set()
        for index, policy in enumerate(self.policies):
            if policy.name in seen:
                raise ValueError(f"policies[{index}].name: {policy.name!r} is used twice")
            seen.add(policy.name)
        return self


@dataclass(frozen=True, slots=True)
class SlaFacts:
    """What matching reads of a conversation."""

    queue: str | None
    channel: str
    priority: int
    tier: str | None


def tier_of(attributes: Mapping[str, Any]) -> str | None:
    """The customer's tier from their attributes, if they have one."""
    value = attributes.get(TIER_ATTRIBUTE)
    return value if isinstance(value, str) else None


def matches(match: SlaMatch, facts: SlaFacts) -> bool:
    """Tell whether a conversation meets every condition of `match`."""
    return (
        (not match.queues or facts.queue in match.queues)
        and (not match.channels or facts.channel in match.channels)
        and (match.min_priority is None or facts.priority >= match.min_priority)
        and (not match.customer_tiers or facts.tier in match.customer_tiers)
    )


def policy_for(document: SlaPolicyDocument, facts: SlaFacts) -> SlaPolicy | None:
    """The first policy that matches, or None."""
    return next((policy for policy in document.policies if matches(policy.match, facts)), None)


def target_of(policy: SlaPolicy, target: Target) -> timedelta | None:
    """A policy's target as a duration, or None when it is not measured."""
    seconds = policy.targets.seconds(target)
    return None if seconds is None else timedelta(seconds=seconds)
