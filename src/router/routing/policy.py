"""A versioned routing policy: ordered rules that send a conversation to a queue.

The first rule whose every condition holds wins; a condition left empty places no
restriction. When no rule matches, the policy's `default_queue` takes the conversation.

Parsing a policy (pydantic) checks only its shape; `validate_policy` checks its meaning
(known queues, usable globs, unique names, reachable rules) and reports every problem at once,
so an editor sees the whole list instead of fixing one error per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from router.channels import Channel

DEFAULT_RULE = "default"
"""The rule name reported when no rule matched; reserved, so no rule may carry it."""

AttributeValue = StrictStr | StrictBool | StrictInt
HoursCondition = Literal["open", "closed"]

# Only * and ? are wildcards. Character classes are refused so that an address containing
# brackets never silently turns into a pattern matching something else.
_GLOB_FORBIDDEN = frozenset("[]{}")


@dataclass(frozen=True, kw_only=True)
class RoutingFacts:
    """What the policy may look at: where the customer wrote, who they are, what they wrote."""

    channel: Channel
    recipient: str
    customer_attributes: Mapping[str, str | bool | int] = field(default_factory=dict)
    text: str = ""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RoutingRule(_Frozen):
    """One rule: conditions (all must hold, any-of within a list) and the queue it sends to.

    - `channels`: the conversation's channel is one of these.
    - `recipients`: the receiving address, number or page equals one of these or matches it
      as a glob (`*` any run of characters, `?` one character); case-insensitive.
    - `customer_attributes`: every listed attribute is present with an equal value of the
      same type (`true` does not equal `1`); strings compare case-sensitively.
    - `keywords`: one of these occurs in the text as a whole word or phrase, ignoring case.
    - `during_hours`: the TARGET queue is open / closed at the moment of routing.
    """

    name: Annotated[str, Field(min_length=1, max_length=100)]
    channels: frozenset[Channel] = frozenset()
    recipients: tuple[Annotated[str, Field(max_length=320)], ...] = ()
    customer_attributes: dict[Annotated[str, Field(max_length=100)], AttributeValue] = Field(
        default_factory=dict
    )
    keywords: tuple[Annotated[str, Field(max_length=100)], ...] = ()
    during_hours: HoursCondition | None = None
    queue: Annotated[str, Field(min_length=1, max_length=100)]
    priority: StrictInt = 0

    @property
    def is_catch_all(self) -> bool:
        """True when the rule has no condition at all and so matches every conversation."""
        return not (
            self.channels
            or self.recipients
            or self.customer_attributes
            or self.keywords
            or self.during_hours
        )

    def matches(self, facts: RoutingFacts, queue_open: Callable[[str], bool]) -> bool:
        """Tell whether every condition of the rule holds for these facts.

        The hours condition is checked last, and only then is `queue_open` called, since it is
        the only condition that may need more than the facts themselves.
        """
        if self.channels and facts.channel not in self.channels:
            return False
        if self.recipients and not any(
            _glob_pattern(glob).fullmatch(facts.recipient) for glob in self.recipients
        ):
            return False
        if not _attributes_match(self.customer_attributes, facts.customer_attributes):
            return False
        if self.keywords and not _keyword_pattern(self.keywords).search(facts.text):
            return False
        if self.during_hours is not None:
            return queue_open(self.queue) == (self.during_hours == "open")
        return True


class RoutingPolicy(_Frozen):
    """An ordered list of rules with a version, plus where to go when none matches."""

    version: Annotated[int, Field(ge=1)]
    rules: tuple[RoutingRule, ...] = ()
    default_queue: Annotated[str, Field(min_length=1, max_length=100)]
    default_priority: int = 0


@dataclass(frozen=True, kw_only=True)
class PolicyMatch:
    """The outcome of a policy: the queue, its priority and which rule decided it.

    `rule` is the matching rule's name, or `DEFAULT_RULE` with `rule_index` None.
    """

    queue: str
    priority: int
    rule: str
    rule_index: int | None
    policy_version: int


def match_policy(
    policy: RoutingPolicy, facts: RoutingFacts, queue_open: Callable[[str], bool]
) -> PolicyMatch:
    """Return the first rule of the policy that matches the facts, or the default queue.

    `queue_open(name)` tells whether a queue is open now; it is consulted only for rules with
    a `during_hours` condition, about that rule's own target queue.
    """
    for index, rule in enumerate(policy.rules):
        if rule.matches(facts, queue_open):
            return PolicyMatch(
                queue=rule.queue,
                priority=rule.priority,
                rule=rule.name,
                rule_index=index,
                policy_version=policy.version,
            )
    return PolicyMatch(
        queue=policy.default_queue,
        priority=policy.default_priority,
        rule=DEFAULT_RULE,
        rule_index=None,
        policy_version=policy.version,
    )


def glob_problem(glob: str) -> str | None:
    """Say what is wrong with a recipient pattern, or None when it is usable."""
    if not glob.strip():
        return "is empty"
    if any(character.isspace() for character in glob):
        return "contains whitespace"
    if _GLOB_FORBIDDEN.intersection(glob):
        return "uses [ ] { } which are not supported; only * and ? are wildcards"
    return None


def validate_policy(policy: RoutingPolicy, known_queues: set[str]) -> list[str]:
    """Return every problem of the policy as a human-readable sentence; empty means valid."""
    problems: list[str] = []
    if policy.default_queue not in known_queues:
        problems.append(f'default_queue: "{policy.default_queue}" is not a known queue')
    if policy.default_priority < 0:
        problems.append(f"default_priority: {policy.default_priority} is negative")
    seen_names: dict[str, int] = {}
    catch_all: int | None = None
    for index, rule in enumerate(policy.rules):
        where = f'rules[{index}] ("{rule.name}")'
        problems.extend(f"{where}: {problem}" for problem in _rule_problems(rule, known_queues))
        key = rule.name.strip().casefold()
        if key in seen_names:
            problems.append(f"{where}: name already used by rules[{seen_names[key]}]")
        else:
            seen_names[key] = index
        if catch_all is not None:
            problems.append(
                f'{where}: can never match, rules[{catch_all}] ("{policy.rules[catch_all].name}")'
                " before it has no condition and matches every conversation"
            )
        elif rule.is_catch_all:
            catch_all = index
    return problems


def _rule_problems(rule: RoutingRule, known_queues: set[str]) -> list[str]:
    problems: list[str] = []
    if not rule.name.strip():
        problems.append("name is blank")
    elif rule.name.strip().casefold() == DEFAULT_RULE:
        problems.append(f'name "{DEFAULT_RULE}" is reserved for the policy\'s default queue')
    if rule.queue not in known_queues:
        problems.append(f'queue "{rule.queue}" is not a known queue')
    if rule.priority < 0:
        problems.append(f"priority {rule.priority} is negative")
    for glob in rule.recipients:
        problem = glob_problem(glob)
        if problem is not None:
            problems.append(f'recipient pattern "{glob}" {problem}')
    for attribute in rule.customer_attributes:
        if not attribute.strip():
            problems.append("customer attribute name is blank")
    for keyword in rule.keywords:
        if not keyword.strip():
            problems.append("keyword is blank")
    return problems


def _attributes_match(
    wanted: Mapping[str, str | bool | int], actual: Mapping[str, str | bool | int]
) -> bool:
    for name, value in wanted.items():
        if name not in actual:
            return False
        present = actual[name]
        # bool is a subclass of int: without the type check {"vip": true} would match vip=1.
        if type(present) is not type(value) or present != value:
            return False
    return True


@lru_cache(maxsize=4096)
def _glob_pattern(glob: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@lru_cache(maxsize=4096)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # A phrase matches across any run of whitespace; a blank keyword matches nothing (it is
    # reported by validate_policy) instead of matching every text.
    phrases = [r"\s+".join(map(re.escape, keyword.split())) for keyword in keywords]
    alternatives = "|".join(phrase for phrase in phrases if phrase)
    if not alternatives:
        return re.compile(r"(?!)")
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
