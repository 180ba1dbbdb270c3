"""Exclusions end: an agent left out of a conversation's offers is eligible again later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from router.channels import Channel, Presence
from router.routing.decision import (
    AgentSnapshot,
    ConversationToRoute,
    DecisionReason,
    QueueSnapshot,
    decide_owner,
    judge_candidate,
)
from router.routing.exclusions import Exclusion, in_force, read_exclusions, with_exclusion

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
QUEUE = QueueSnapshot(name="support", agent_ids=frozenset({"ada", "bob"}))


def agent(agent_id: str) -> AgentSnapshot:
    return AgentSnapshot(
        agent_id=agent_id,
        presence=Presence.ONLINE,
        idle_since=NOW - timedelta(hours=1),
        capacity={Channel.SMS: 1},
    )


def sms(**excluded: Exclusion) -> ConversationToRoute:
    return ConversationToRoute(conversation_id="c1", channel=Channel.SMS, excluded=excluded)


def test_an_exclusion_holds_until_its_end_and_not_a_moment_longer() -> None:
    until = NOW + timedelta(minutes=5)
    conversation = sms(ada=Exclusion("timed out", until), bob=Exclusion("declined", until))
    waiting = decide_owner(conversation, QUEUE, [agent("ada"), agent("bob")], NOW)
    assert waiting.agent_id is None
    assert waiting.reason is DecisionReason.NO_ELIGIBLE_AGENT
    assert waiting.audit()["candidates"] == {
        f"excluded: timed out until {until.isoformat()}": ["ada"],
        f"excluded: declined until {until.isoformat()}": ["bob"],
    }
    before = until - timedelta(seconds=1)
    assert not judge_candidate(agent("ada"), conversation, QUEUE, before).eligible
    assert judge_candidate(agent("ada"), conversation, QUEUE, until).eligible
    later = decide_owner(conversation, QUEUE, [agent("ada"), agent("bob")], until)
    assert later.agent_id == "ada"


def test_a_bare_reason_from_old_rows_has_no_end_and_counts_as_ended() -> None:
    stored = {"ada": "timed out", "bob": {"reason": "declined", "until": "2026-12-02T09:05:00Z"}}
    read = read_exclusions(stored)
    assert read == {
        "ada": Exclusion("timed out", None),
        "bob": Exclusion("declined", datetime(2026, 12, 2, 9, 5, tzinfo=UTC)),
    }
    assert in_force(stored, NOW) == {"bob": read["bob"]}
    decision = decide_owner(sms(**read), QUEUE, [agent("ada"), agent("bob")], NOW)
    assert decision.agent_id == "ada"


def test_unreadable_or_naive_ends_count_as_ended() -> None:
    stored = {
        "ada": {"reason": "declined", "until": "soon"},
        "bob": {"reason": "declined", "until": "2026-12-02T09:05:00"},
        "cyd": {"until": "2026-12-02T09:05:00+00:00"},
    }
    assert in_force(stored, NOW) == {
        "cyd": Exclusion("excluded", datetime(2026, 12, 2, 9, 5, tzinfo=UTC))
    }


def test_adding_an_exclusion_keeps_those_in_force_and_drops_the_ended() -> None:
    stored = {
        "ada": "timed out",
        "bob": {"reason": "declined", "until": (NOW + timedelta(minutes=1)).isoformat()},
        "cyd": {"reason": "declined", "until": (NOW - timedelta(minutes=1)).isoformat()},
    }
    until = NOW + timedelta(minutes=5)
    updated = with_exclusion(stored, "dan", Exclusion("timed out", until), NOW)
    assert updated == {
        "bob": {"reason": "declined", "until": (NOW + timedelta(minutes=1)).isoformat()},
        "dan": {"reason": "timed out", "until": until.isoformat()},
    }
    assert read_exclusions(updated)["dan"] == Exclusion("timed out", until)
