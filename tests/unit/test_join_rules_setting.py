"""`ROUTER_JOIN_OPEN_CONVERSATION`: `channel=rule` pairs over the defaults, mistakes named."""

from __future__ import annotations

import pytest

from router.channels import DEFAULT_JOIN_RULES, Channel, JoinRule
from router.configuration import ConfigurationError, load_settings


def test_unset_every_channel_has_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTER_JOIN_OPEN_CONVERSATION", raising=False)
    rules = load_settings().join_open_conversation
    assert rules == DEFAULT_JOIN_RULES
    assert set(rules) == set(Channel)
    assert rules[Channel.EMAIL] is JoinRule.NEVER
    assert rules[Channel.VOICE] is JoinRule.ANY_CHANNEL
    assert {rules[channel] for channel in Channel if channel not in ("email", "voice")} == {
        JoinRule.SAME_CHANNEL
    }


def test_named_channels_change_and_the_others_keep_their_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_JOIN_OPEN_CONVERSATION", " email = same-channel,, sms=never ")
    rules = load_settings().join_open_conversation
    assert rules == {
        **DEFAULT_JOIN_RULES,
        Channel.EMAIL: JoinRule.SAME_CHANNEL,
        Channel.SMS: JoinRule.NEVER,
    }


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("fax=never", "no channel 'fax'"),
        ("sms=sometimes", "the rule is one of same-channel, any-channel, never"),
        ("sms", "the rule is one of"),
    ],
)
def test_a_mistake_is_named_by_the_variable_and_the_pair(
    monkeypatch: pytest.MonkeyPatch, value: str, named: str
) -> None:
    monkeypatch.setenv("ROUTER_JOIN_OPEN_CONVERSATION", value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"ROUTER_JOIN_OPEN_CONVERSATION={value!r}")
    assert named in message
