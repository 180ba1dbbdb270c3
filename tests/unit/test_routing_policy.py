"""Routing policy: rule order, every kind of condition, and validation messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from router.channels import Channel
from router.routing.policy import (
    DEFAULT_RULE,
    PolicyMatch,
    RoutingFacts,
    RoutingPolicy,
    RoutingRule,
    glob_problem,
    match_policy,
    validate_policy,
)

QUEUES = {"general", "billing", "vip-de", "after-hours", "voice"}


def always_open(_queue: str) -> bool:
    return True


def facts(**overrides: Any) -> RoutingFacts:
    values: dict[str, Any] = {
        "channel": Channel.EMAIL,
        "recipient": "help@example.com",
        "customer_attributes": {},
        "text": "",
    }
    values.update(overrides)
    return RoutingFacts(**values)


def rule(**fields: Any) -> RoutingRule:
    fields.setdefault("name", "r")
    fields.setdefault("queue", "billing")
    return RoutingRule.model_validate(fields)


def policy(*rules: RoutingRule, default_queue: str = "general", **extra: Any) -> RoutingPolicy:
    return RoutingPolicy(version=3, rules=rules, default_queue=default_queue, **extra)


def matches(candidate: RoutingRule, situation: RoutingFacts) -> bool:
    return candidate.matches(situation, always_open)


# --- matching order and default -----------------------------------------------------------


def test_no_rule_matches_gives_the_default_queue() -> None:
    routing = policy(rule(channels=["voice"]), default_priority=2)
    assert match_policy(routing, facts(), always_open) == PolicyMatch(
        queue="general", priority=2, rule=DEFAULT_RULE, rule_index=None, policy_version=3
    )


def test_empty_policy_gives_the_default_queue() -> None:
    assert match_policy(policy(), facts(), always_open).queue == "general"


def test_first_matching_rule_wins() -> None:
    routing = policy(
        rule(name="voice", channels=["voice"], queue="voice"),
        rule(name="billing", keywords=["invoice"], queue="billing", priority=5),
        rule(name="anything-email", channels=["email"], queue="after-hours", priority=9),
    )
    result = match_policy(routing, facts(text="Where is my invoice?"), always_open)
    assert (result.queue, result.priority, result.rule, result.rule_index) == (
        "billing",
        5,
        "billing",
        1,
    )
    other = match_policy(routing, facts(text="hello"), always_open)
    assert (other.rule, other.rule_index, other.queue) == ("anything-email", 2, "after-hours")


def test_rule_without_conditions_matches_everything() -> None:
    catch_all = rule()
    assert catch_all.is_catch_all
    assert matches(catch_all, facts(channel=Channel.SMS, recipient="+4930123", text="x"))


def test_every_condition_must_hold() -> None:
    combined = rule(
        channels=["email"],
        recipients=["*@billing.example.com"],
        customer_attributes={"vip": True},
        keywords=["refund"],
    )
    good = facts(
        recipient="team@billing.example.com",
        customer_attributes={"vip": True},
        text="refund please",
    )
    assert matches(combined, good)
    assert not matches(combined, facts(recipient="team@billing.example.com", text="refund"))
    assert not matches(
        combined,
        facts(recipient="help@example.com", customer_attributes={"vip": True}, text="refund"),
    )
    assert not matches(
        combined,
        facts(
            channel=Channel.CHAT,
            recipient="team@billing.example.com",
            customer_attributes={"vip": True},
            text="refund",
        ),
    )


# --- channels and recipients --------------------------------------------------------------


def test_channels_are_any_of() -> None:
    messaging = rule(channels=["whatsapp", "sms"])
    assert matches(messaging, facts(channel=Channel.WHATSAPP))
    assert matches(messaging, facts(channel=Channel.SMS))
    assert not matches(messaging, facts(channel=Channel.EMAIL))


@pytest.mark.parametrize(
    ("pattern", "recipient", "expected"),
    [
        ("*@billing.example.com", "team@billing.example.com", True),
        ("*@billing.example.com", "Team@Billing.Example.COM", True),
        ("*@billing.example.com", "team@billing.example.com.evil", False),
        ("*@billing.example.com", "team@example.com", False),
        ("help@example.com", "help@example.com", True),
        ("help@example.com", "HELP@example.com", True),
        ("help@example.com", "help@exampleXcom", False),
        ("help@example.com", "xhelp@example.com", False),
        ("+4930*", "+493012345", True),
        ("+4930*", "+4989123", False),
        ("page-?", "page-7", True),
        ("page-?", "page-77", False),
        ("*", "anything at all", True),
    ],
)
def test_recipient_exact_and_glob(pattern: str, recipient: str, expected: bool) -> None:
    assert matches(rule(recipients=[pattern]), facts(recipient=recipient)) is expected


def test_recipients_are_any_of() -> None:
    either = rule(recipients=["sales@example.com", "*@billing.example.com"])
    assert matches(either, facts(recipient="sales@example.com"))
    assert matches(either, facts(recipient="x@billing.example.com"))
    assert not matches(either, facts(recipient="help@example.com"))


# --- customer attributes ------------------------------------------------------------------


def test_attributes_must_all_be_equal() -> None:
    vip_de = rule(customer_attributes={"vip": True, "language": "de"})
    assert matches(vip_de, facts(customer_attributes={"vip": True, "language": "de", "x": 1}))
    assert not matches(vip_de, facts(customer_attributes={"vip": True, "language": "en"}))
    assert not matches(vip_de, facts(customer_attributes={"vip": True}))
    assert not matches(vip_de, facts(customer_attributes={}))


def test_attribute_types_are_not_mixed() -> None:
    vip = rule(customer_attributes={"vip": True})
    assert not matches(vip, facts(customer_attributes={"vip": 1}))
    assert not matches(vip, facts(customer_attributes={"vip": "true"}))
    tier = rule(customer_attributes={"tier": 1})
    assert matches(tier, facts(customer_attributes={"tier": 1}))
    assert not matches(tier, facts(customer_attributes={"tier": True}))
    assert not matches(tier, facts(customer_attributes={"tier": "1"}))


def test_string_attributes_compare_case_sensitively() -> None:
    assert not matches(
        rule(customer_attributes={"language": "de"}), facts(customer_attributes={"language": "DE"})
    )


def test_attributes_parse_strictly_from_json() -> None:
    parsed = RoutingRule.model_validate_json(
        '{"name": "r", "queue": "q", "customer_attributes": {"vip": true, "tier": 2, "lang": "de"}}'
    )
    assert parsed.customer_attributes == {"vip": True, "tier": 2, "lang": "de"}
    assert type(parsed.customer_attributes["vip"]) is bool
    assert type(parsed.customer_attributes["tier"]) is int
    with pytest.raises(ValidationError):
        RoutingRule.model_validate_json(
            '{"name": "r", "queue": "q", "customer_attributes": {"x": 1.5}}'
        )


# --- keywords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keywords", "text", "expected"),
    [
        (["refund"], "I want a REFUND now", True),
        (["refund"], "Refund!", True),
        (["refund"], "(refund)", True),
        (["refund"], "I was refunded", False),
        (["refund"], "nonrefund", False),
        (["refund"], "re_fund", False),
        (["refund", "invoice"], "my invoice is wrong", True),
        (["credit card"], "my Credit\n  Card was charged", True),
        (["credit card"], "my credit-card", False),
        (["rückerstattung"], "Bitte RÜCKERSTATTUNG!", True),
        (["c++"], "I code in C++ daily", True),
        (["refund"], "", False),
    ],
)
def test_keywords_are_case_insensitive_whole_words(
    keywords: list[str], text: str, expected: bool
) -> None:
    assert matches(rule(keywords=keywords), facts(text=text)) is expected


def test_blank_keyword_matches_nothing_instead_of_everything() -> None:
    assert not matches(rule(keywords=["  "]), facts(text="anything"))
    assert matches(rule(keywords=["  ", "help"]), facts(text="help me"))


# --- business hours of the target queue ---------------------------------------------------


def test_during_hours_asks_about_the_rules_own_queue() -> None:
    asked: list[str] = []

    def everything_open(queue: str) -> bool:
        asked.append(queue)
        return True

    routing = policy(
        rule(name="closed", during_hours="closed", queue="after-hours"),
        rule(name="open", during_hours="open", queue="billing"),
    )
    result = match_policy(routing, facts(), everything_open)
    assert asked == ["after-hours", "billing"]
    assert (result.rule, result.queue) == ("open", "billing")

    def only_billing_open(queue: str) -> bool:
        return queue == "billing"

    assert match_policy(routing, facts(), only_billing_open).rule == "closed"


@pytest.mark.parametrize(
    ("queue_is_open", "condition", "expected"),
    [
        (True, "open", True),
        (True, "closed", False),
        (False, "open", False),
        (False, "closed", True),
    ],
)
def test_during_hours_condition(queue_is_open: bool, condition: str, expected: bool) -> None:
    def queue_open(_queue: str) -> bool:
        return queue_is_open

    assert rule(during_hours=condition).matches(facts(), queue_open) is expected


def test_hours_are_not_consulted_when_another_condition_fails() -> None:
    def must_not_be_called(_queue: str) -> bool:
        raise AssertionError("queue_open consulted needlessly")

    voice_only: Callable[[str], bool] = must_not_be_called
    assert not rule(channels=["voice"], during_hours="open").matches(facts(), voice_only)


# --- shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"version": 0, "default_queue": "general"},
        {"version": 1, "default_queue": ""},
        {"version": 1, "default_queue": "general", "unknown": 1},
        {"version": 1, "default_queue": "general", "rules": [{"name": "", "queue": "q"}]},
        {
            "version": 1,
            "default_queue": "general",
            "rules": [{"name": "r", "queue": "q", "channels": ["fax"]}],
        },
        {
            "version": 1,
            "default_queue": "general",
            "rules": [{"name": "r", "queue": "q", "during_hours": "maybe"}],
        },
    ],
)
def test_malformed_policy_documents_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RoutingPolicy.model_validate(document)


def test_policy_round_trips_through_json() -> None:
    routing = policy(
        rule(
            name="vip",
            channels=["chat"],
            recipients=["*@x.com"],
            customer_attributes={"vip": True},
            keywords=["help"],
            during_hours="open",
            priority=7,
        ),
    )
    assert RoutingPolicy.model_validate_json(routing.model_dump_json()) == routing


# --- validation ---------------------------------------------------------------------------


def test_valid_policy_has_no_problems() -> None:
    routing = policy(
        rule(name="billing", recipients=["*@billing.example.com"], keywords=["invoice"]),
        rule(name="vip-de", customer_attributes={"vip": True, "language": "de"}, queue="vip-de"),
        rule(name="catch-all", queue="general"),
    )
    assert validate_policy(routing, QUEUES) == []


def test_unknown_queues_are_reported() -> None:
    routing = policy(rule(name="x", queue="nowhere"), default_queue="limbo")
    assert validate_policy(routing, QUEUES) == [
        'default_queue: "limbo" is not a known queue',
        'rules[0] ("x"): queue "nowhere" is not a known queue',
    ]


def test_duplicate_names_are_reported_ignoring_case() -> None:
    routing = policy(rule(name="vip", channels=["chat"]), rule(name="b"), rule(name=" VIP "))
    assert validate_policy(routing, QUEUES) == [
        'rules[2] (" VIP "): name already used by rules[0]',
        'rules[2] (" VIP "): can never match, rules[1] ("b") before it has no condition and '
        "matches every conversation",
    ]


def test_reserved_and_blank_names_are_reported() -> None:
    routing = policy(rule(name="Default", channels=["chat"]), rule(name="   ", channels=["sms"]))
    assert validate_policy(routing, QUEUES) == [
        'rules[0] ("Default"): name "default" is reserved for the policy\'s default queue',
        'rules[1] ("   "): name is blank',
    ]


def test_negative_priorities_are_reported() -> None:
    routing = policy(rule(name="low", channels=["chat"], priority=-1), default_priority=-5)
    assert validate_policy(routing, QUEUES) == [
        "default_priority: -5 is negative",
        'rules[0] ("low"): priority -1 is negative',
    ]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("help @example.com", "contains whitespace"),
        ("[ab]@example.com", "uses [ ] { } which are not supported; only * and ? are wildcards"),
        ("{a,b}@example.com", "uses [ ] { } which are not supported; only * and ? are wildcards"),
    ],
)
def test_invalid_globs_are_reported(pattern: str, problem: str) -> None:
    assert glob_problem(pattern) == problem
    routing = policy(rule(name="g", recipients=["ok@example.com", pattern]))
    assert validate_policy(routing, QUEUES) == [
        f'rules[0] ("g"): recipient pattern "{pattern}" {problem}'
    ]


def test_valid_globs_have_no_problem() -> None:
    for pattern in ("*@billing.example.com", "+4930*", "page-?", "*", "help@example.com"):
        assert glob_problem(pattern) is None


def test_blank_keywords_and_attribute_names_are_reported() -> None:
    routing = policy(rule(name="k", keywords=["refund", " "], customer_attributes={"": True}))
    assert validate_policy(routing, QUEUES) == [
        'rules[0] ("k"): customer attribute name is blank',
        'rules[0] ("k"): keyword is blank',
    ]


def test_rules_after_a_catch_all_are_unreachable() -> None:
    routing = policy(
        rule(name="first", channels=["chat"]),
        rule(name="all"),
        rule(name="late", keywords=["x"]),
        rule(name="later"),
    )
    assert validate_policy(routing, QUEUES) == [
        'rules[2] ("late"): can never match, rules[1] ("all") before it has no condition and '
        "matches every conversation",
        'rules[3] ("later"): can never match, rules[1] ("all") before it has no condition and '
        "matches every conversation",
    ]


def test_a_rule_with_only_an_hours_condition_is_not_a_catch_all() -> None:
    routing = policy(
        rule(name="night", during_hours="closed", queue="after-hours"), rule(name="rest")
    )
    assert validate_policy(routing, QUEUES) == []


def test_all_problems_are_reported_together() -> None:
    routing = policy(
        rule(name="a", queue="nowhere", priority=-1, recipients=["x y"]),
        rule(name="a", channels=["chat"]),
        default_queue="limbo",
    )
    assert len(validate_policy(routing, QUEUES)) == 5
