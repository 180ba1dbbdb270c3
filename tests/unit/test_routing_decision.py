"""The owner choice: eligibility, stickiness, load ties, overflow and draining the queues."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.channels import Channel, Presence
from router.routing.decision import (
    AgentSnapshot,
    CandidateVerdict,
    ConversationToRoute,
    Decision,
    DecisionReason,
    Judgements,
    Outcome,
    QueueSnapshot,
    WaitingConversation,
    decide_owner,
    judge_candidate,
    load_rank,
    order_waiting,
    plan_assignments,
    resolve_queue_for_hours,
    speaks,
)
from router.routing.exclusions import Exclusion
from router.routing.hours import BusinessHours

NOW = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)  # a Monday
UNTIL = NOW + timedelta(minutes=5)
UNTIL_ISO = UNTIL.isoformat()


def left_out(reason: str) -> Exclusion:
    """An exclusion still in force at NOW."""
    return Exclusion(reason, UNTIL)


EARLIER = NOW - timedelta(hours=1)
TEAM = frozenset({"ada", "bob", "cyd", "dee"})


BASE_AGENT = AgentSnapshot(
    agent_id="ada",
    presence=Presence.ONLINE,
    idle_since=EARLIER,
    skills={"billing": 2},
    languages=frozenset({"de", "en"}),
    capacity={Channel.CHAT: 3, Channel.EMAIL: 5},
)
BASE_QUEUE = QueueSnapshot(
    name="billing", required_skills={"billing": 2}, language="de", agent_ids=TEAM
)


def agent(agent_id: str, **fields: Any) -> AgentSnapshot:
    return replace(BASE_AGENT, agent_id=agent_id, **fields)


def queue(name: str = "billing", **fields: Any) -> QueueSnapshot:
    return replace(BASE_QUEUE, name=name, **fields)


def chat(conversation_id: str = "c1", **fields: Any) -> ConversationToRoute:
    fields.setdefault("channel", Channel.CHAT)
    return ConversationToRoute(conversation_id=conversation_id, **fields)


def verdict_of(decision: Decision, agent_id: str) -> CandidateVerdict:
    return next(v for v in decision.candidates if v.agent_id == agent_id)


def closed_hours() -> BusinessHours:
    return BusinessHours(time_zone="Europe/Berlin")


def open_hours() -> BusinessHours:
    return BusinessHours.model_validate(
        {
            "time_zone": "Europe/Berlin",
            "weekly": {"monday": [{"opens": "00:00", "closes": "24:00"}]},
        }
    )


# --- eligibility ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"presence": Presence.OFFLINE}, "offline"),
        ({"presence": Presence.AWAY}, "away"),
        ({"skills": {}}, "missing skill billing>=2"),
        ({"skills": {"billing": 1}}, "missing skill billing>=2 (has 1)"),
        ({"languages": frozenset({"en"})}, "does not speak de"),
        ({"capacity": {Channel.EMAIL: 5}}, "no capacity on chat"),
        ({"capacity": {Channel.CHAT: 0}}, "no capacity on chat"),
        ({"active": {Channel.CHAT: 3}}, "full on chat (3/3)"),
        ({"active": {Channel.CHAT: 4}}, "full on chat (4/3)"),
    ],
)
def test_each_eligibility_rule_is_reported(changes: dict[str, Any], reason: str) -> None:
    verdict = judge_candidate(agent("ada", **changes), chat(), queue(), NOW)
    assert verdict.reasons == (reason,)
    assert not verdict.eligible
    assert verdict.summary == reason


def test_not_serving_the_queue_and_excluded_are_reported() -> None:
    stranger = judge_candidate(agent("zed"), chat(), queue(), NOW)
    assert stranger.reasons == ("does not serve queue billing",)
    declined = judge_candidate(
        agent("ada"), chat(excluded={"ada": left_out("declined")}), queue(), NOW
    )
    assert declined.reasons == (f"excluded: declined until {UNTIL_ISO}",)


def test_every_failed_rule_is_listed() -> None:
    verdict = judge_candidate(
        agent(
            "zed",
            presence=Presence.OFFLINE,
            skills={"billing": 1},
            languages=frozenset(),
            active={Channel.CHAT: 3},
        ),
        chat(excluded={"zed": left_out("timed out")}),
        queue(required_skills={"billing": 2, "refunds": 1}),
        NOW,
    )
    assert verdict.reasons == (
        "offline",
        "does not serve queue billing",
        "missing skill billing>=2 (has 1)",
        "missing skill refunds>=1",
        "does not speak de",
        "full on chat (3/3)",
        f"excluded: timed out until {UNTIL_ISO}",
    )
    assert verdict.summary == "; ".join(verdict.reasons)


def test_skill_levels_at_or_above_the_minimum_are_enough() -> None:
    assert judge_candidate(agent("ada", skills={"billing": 2}), chat(), queue(), NOW).eligible
    assert judge_candidate(agent("ada", skills={"billing": 5}), chat(), queue(), NOW).eligible


def test_queue_without_language_or_skills_accepts_any_speaker() -> None:
    plain = queue(required_skills={}, language=None)
    verdict = judge_candidate(agent("ada", skills={}, languages=frozenset()), chat(), plain, NOW)
    assert verdict.eligible
    assert verdict.summary == "eligible (0/3 on chat)"


@pytest.mark.parametrize(
    ("spoken", "required", "expected"),
    [
        ({"de"}, "de", True),
        ({"DE"}, "de", True),
        ({"de-AT"}, "de", True),
        ({"de"}, "de-AT", False),
        ({"de-at"}, "de-AT", True),
        ({"den"}, "de", False),
        (set(), "de", False),
    ],
)
def test_language_matching(spoken: set[str], required: str, expected: bool) -> None:
    assert speaks(spoken, required) is expected


def test_capacity_is_per_channel() -> None:
    busy_on_chat = agent("ada", active={Channel.CHAT: 3, Channel.EMAIL: 1})
    assert not judge_candidate(busy_on_chat, chat(), queue(), NOW).eligible
    email = chat(channel=Channel.EMAIL)
    verdict = judge_candidate(busy_on_chat, email, queue(), NOW)
    assert verdict.eligible
    assert verdict.summary == "eligible (1/5 on email)"
    decision = decide_owner(email, queue(), [busy_on_chat], NOW)
    assert (decision.outcome, decision.agent_id) == (Outcome.OFFER, "ada")


def test_voice_needs_a_voice_capacity() -> None:
    decision = decide_owner(chat(channel=Channel.VOICE), queue(), [agent("ada")], NOW)
    assert decision.outcome is Outcome.WAIT
    assert verdict_of(decision, "ada").reasons == ("no capacity on voice",)


# --- choosing ------------------------------------------------------------------------------


def test_sticky_previous_owner_wins_even_when_busier() -> None:
    agents = [agent("ada", active={Channel.CHAT: 2}), agent("bob")]
    decision = decide_owner(chat(previous_owner="ada"), queue(), agents, NOW)
    assert (decision.agent_id, decision.reason) == ("ada", DecisionReason.STICKY)
    assert decision.reason.value == "sticky previous owner"


@pytest.mark.parametrize(
    ("changes", "excluded", "reason"),
    [
        ({"presence": Presence.OFFLINE}, {}, "offline"),
        ({"active": {Channel.CHAT: 3}}, {}, "full on chat (3/3)"),
        ({"skills": {"billing": 1}}, {}, "missing skill billing>=2 (has 1)"),
        ({}, {"ada": left_out("declined")}, f"excluded: declined until {UNTIL_ISO}"),
    ],
)
def test_ineligible_previous_owner_falls_back_to_least_loaded(
    changes: dict[str, Any], excluded: dict[str, Exclusion], reason: str
) -> None:
    agents = [agent("ada", **changes), agent("bob", active={Channel.CHAT: 1})]
    decision = decide_owner(chat(previous_owner="ada", excluded=excluded), queue(), agents, NOW)
    assert (decision.outcome, decision.agent_id) == (Outcome.OFFER, "bob")
    assert decision.reason is DecisionReason.LEAST_LOADED
    assert verdict_of(decision, "ada").reasons == (reason,)


def test_previous_owner_missing_from_candidates_is_not_sticky() -> None:
    decision = decide_owner(chat(previous_owner="gone"), queue(), [agent("bob")], NOW)
    assert (decision.agent_id, decision.reason) == ("bob", DecisionReason.LEAST_LOADED)


CHAT_2 = {Channel.CHAT: 2}
CHAT_4 = {Channel.CHAT: 4}


@pytest.mark.parametrize(
    ("agents", "chosen"),
    [
        # share of capacity: 1/4 beats 1/2
        (
            [
                agent("ada", capacity=CHAT_2, active={Channel.CHAT: 1}),
                agent("bob", capacity=CHAT_4, active={Channel.CHAT: 1}),
            ],
            "bob",
        ),
        # equal share (2/4 = 1/2): fewer active conversations
        (
            [
                agent("ada", capacity=CHAT_4, active={Channel.CHAT: 2}),
                agent("bob", capacity=CHAT_2, active={Channel.CHAT: 1}),
            ],
            "bob",
        ),
        # equal load: idle longest
        (
            [
                agent("ada", idle_since=NOW - timedelta(minutes=5)),
                agent("bob", idle_since=NOW - timedelta(minutes=30)),
                agent("cyd", idle_since=NOW - timedelta(minutes=10)),
            ],
            "bob",
        ),
        # complete tie: smallest id
        ([agent("dee"), agent("bob"), agent("cyd")], "bob"),
        # load on other channels does not count
        ([agent("ada", active={Channel.EMAIL: 4}), agent("bob", active={Channel.CHAT: 1})], "ada"),
    ],
    ids=["share", "count", "idle", "id", "channel"],
)
def test_least_loaded_and_its_tie_breaks(agents: list[AgentSnapshot], chosen: str) -> None:
    decision = decide_owner(chat(), queue(), agents, NOW)
    assert (decision.agent_id, decision.reason) == (chosen, DecisionReason.LEAST_LOADED)


def test_load_rank_orders_share_then_count_then_idle_then_id() -> None:
    ada = agent("ada", capacity={Channel.CHAT: 4}, active={Channel.CHAT: 2})
    assert load_rank(ada, Channel.CHAT) == (0.5, 2, EARLIER, "ada")
    bob = agent("bob", capacity={Channel.CHAT: 2}, active={Channel.CHAT: 1}, idle_since=NOW)
    assert sorted([ada, bob], key=lambda a: load_rank(a, Channel.CHAT)) == [bob, ada]


def test_no_eligible_agent_means_the_queue_owns_it() -> None:
    decision = decide_owner(
        chat(), queue(), [agent("ada", presence=Presence.OFFLINE), agent("zed")], NOW
    )
    assert (decision.outcome, decision.agent_id) == (Outcome.WAIT, None)
    assert decision.reason.value == "no eligible agent"
    assert decide_owner(chat(), queue(), [], NOW).reason is DecisionReason.NO_ELIGIBLE_AGENT


def test_closed_queue_waits_but_still_judges_candidates() -> None:
    decision = decide_owner(
        chat(previous_owner="ada"), queue(hours=closed_hours()), [agent("ada")], NOW
    )
    assert (decision.outcome, decision.reason) == (Outcome.WAIT, DecisionReason.QUEUE_CLOSED)
    assert verdict_of(decision, "ada").eligible
    assert decide_owner(chat(), queue(hours=open_hours()), [agent("ada")], NOW).agent_id == "ada"


def test_candidates_are_listed_by_id_and_audit_is_json_ready() -> None:
    decision = decide_owner(
        chat(excluded={"cyd": left_out("declined")}),
        queue(),
        [agent("cyd"), agent("ada", presence=Presence.OFFLINE), agent("bob")],
        NOW,
    )
    assert [v.agent_id for v in decision.candidates] == ["ada", "bob", "cyd"]
    assert decision.audit() == {
        "conversation_id": "c1",
        "queue": "billing",
        "outcome": "offer",
        "agent_id": "bob",
        "reason": "least loaded",
        "decided_at": "2025-06-02T10:00:00+00:00",
        "candidates": {
            "offline": ["ada"],
            "eligible (0/3 on chat)": ["bob"],
            f"excluded: declined until {UNTIL_ISO}": ["cyd"],
        },
    }


def test_audit_names_each_verdict_once_with_its_agents() -> None:
    team = [
        agent("dee"),
        agent("bob", presence=Presence.AWAY),
        agent("cyd", active={Channel.CHAT: 3}),
        agent("ada"),
    ]
    audit = decide_owner(chat(), queue(), team, NOW).audit()
    assert audit["candidates"] == {
        "eligible (0/3 on chat)": ["ada", "dee"],
        "away": ["bob"],
        "full on chat (3/3)": ["cyd"],
    }


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        decide_owner(chat(), queue(), [agent("ada")], datetime(2025, 6, 2, 10))
    with pytest.raises(ValueError, match="idle_since must be timezone-aware"):
        agent("ada", idle_since=datetime(2025, 6, 2, 9))
    with pytest.raises(ValueError, match="must be >= 0"):
        agent("ada", capacity={Channel.CHAT: -1})
    with pytest.raises(ValueError, match="listed twice"):
        decide_owner(chat(), queue(), [agent("ada"), agent("ada")], NOW)
    with pytest.raises(ValueError, match="waiting_since must be timezone-aware"):
        waiting("w", waiting_since=datetime(2025, 6, 2, 9))


# --- overflow outside business hours -------------------------------------------------------


def test_overflow_chain_reaches_the_first_open_queue() -> None:
    a = queue("a", hours=closed_hours(), overflow_queue="b")
    b = queue("b", hours=closed_hours(), overflow_queue="c")
    c = queue("c", hours=open_hours(), overflow_queue="d")
    d = queue("d")  # no hours: always open
    x = queue("x", hours=closed_hours(), overflow_queue="d")
    queues = {q.name: q for q in (a, b, c, d, x)}
    assert resolve_queue_for_hours(a, queues, NOW) is c
    assert resolve_queue_for_hours(b, queues, NOW) is c
    assert resolve_queue_for_hours(c, queues, NOW) is c
    assert resolve_queue_for_hours(x, queues, NOW) is d


def test_overflow_across_time_zones_at_the_same_instant() -> None:
    weekdays = {"monday": [{"opens": "09:00", "closes": "17:00"}]}
    berlin = queue(
        "berlin",
        hours=BusinessHours.model_validate({"time_zone": "Europe/Berlin", "weekly": weekdays}),
        overflow_queue="tokyo",
    )
    tokyo = queue(
        "tokyo", hours=BusinessHours.model_validate({"time_zone": "Asia/Tokyo", "weekly": weekdays})
    )
    queues = {"berlin": berlin, "tokyo": tokyo}
    tokyo_morning = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)  # Berlin 03:00, Tokyo 10:00
    assert resolve_queue_for_hours(berlin, queues, tokyo_morning) is tokyo
    berlin_morning = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # Berlin 10:00
    assert resolve_queue_for_hours(berlin, queues, berlin_morning) is berlin


@pytest.mark.parametrize(
    "chain",
    [
        {"a": "b", "b": "a"},  # a cycle of two
        {"a": "b", "b": "c", "c": "b"},  # a cycle further down
        {"a": "a"},  # a queue overflowing into itself
        {"a": "missing"},  # an unknown overflow queue
        {"a": None},  # no overflow at all
        {"a": "b", "b": None},  # the chain ends closed
    ],
)
def test_no_open_queue_on_the_chain_keeps_the_original(chain: dict[str, str | None]) -> None:
    queues = {
        name: queue(name, hours=closed_hours(), overflow_queue=target)
        for name, target in chain.items()
    }
    assert resolve_queue_for_hours(queues["a"], queues, NOW) is queues["a"]


# --- draining waiting queues ---------------------------------------------------------------


def waiting(conversation_id: str, **fields: Any) -> WaitingConversation:
    defaults = {
        "channel": Channel.CHAT,
        "queue": "billing",
        "priority": 0,
        "waiting_since": EARLIER,
    }
    return WaitingConversation(conversation_id=conversation_id, **{**defaults, **fields})


def test_order_waiting_by_priority_then_age_then_id() -> None:
    items = [
        waiting("old-low", priority=1, waiting_since=NOW - timedelta(hours=3)),
        waiting("new-high", priority=5, waiting_since=NOW - timedelta(minutes=1)),
        waiting("b-mid", priority=3, waiting_since=EARLIER),
        waiting("a-mid", priority=3, waiting_since=EARLIER),
        waiting("older-mid", priority=3, waiting_since=EARLIER - timedelta(seconds=1)),
    ]
    assert [w.conversation_id for w in order_waiting(items)] == [
        "new-high",
        "older-mid",
        "a-mid",
        "b-mid",
        "old-low",
    ]


def test_plan_fills_capacity_in_drain_order_and_no_further() -> None:
    items = [waiting(f"c{i}", priority=i) for i in range(5)]
    only_ada = [
        agent("ada", capacity={Channel.CHAT: 2}, active={}),
        agent("bob", presence=Presence.OFFLINE),
    ]
    plan = plan_assignments(items, only_ada, {"billing": queue()}, NOW)
    assert plan == [("c4", "ada"), ("c3", "ada")]


def test_plan_spreads_equal_work_across_the_team() -> None:
    items = [waiting(f"c{i}") for i in range(4)]
    agents = [
        agent("ada", idle_since=NOW - timedelta(minutes=1)),
        agent("bob", idle_since=NOW - timedelta(minutes=9)),
    ]
    plan = plan_assignments(items, agents, {"billing": queue()}, NOW)
    # bob waited longest; then the load evens out, and both count as busy since NOW, so the
    # id decides the remaining ties.
    assert plan == [("c0", "bob"), ("c1", "ada"), ("c2", "ada"), ("c3", "bob")]


def test_plan_honours_sticky_owner_exclusions_and_channels() -> None:
    items = [
        waiting("sticky", priority=9, previous_owner="bob"),
        waiting("declined", priority=8, excluded={"ada": left_out("declined")}),
        waiting("mail", priority=7, channel=Channel.EMAIL),
    ]
    agents = [
        agent("ada", capacity={Channel.CHAT: 1, Channel.EMAIL: 1}),
        agent("bob", capacity={Channel.CHAT: 2}, active={Channel.CHAT: 1}),
    ]
    plan = plan_assignments(items, agents, {"billing": queue()}, NOW)
    # bob keeps his customer and is then full; ada declined the second; email only fits ada.
    assert plan == [("sticky", "bob"), ("mail", "ada")]


def test_plan_skips_closed_queues_and_leaves_inputs_untouched() -> None:
    queues = {"billing": queue(), "night": queue("night", hours=closed_hours())}
    ada = agent("ada")
    items = [waiting("n", queue="night", priority=9), waiting("b")]
    assert plan_assignments(items, [ada], queues, NOW) == [("b", "ada")]
    assert ada.active == {}
    assert ada.idle_since == EARLIER


def test_plan_refuses_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="unknown queue"):
        plan_assignments([waiting("x", queue="gone")], [agent("ada")], {"billing": queue()}, NOW)
    with pytest.raises(ValueError, match="listed twice"):
        plan_assignments([waiting("x"), waiting("x")], [agent("ada")], {"billing": queue()}, NOW)


# --- properties ----------------------------------------------------------------------------

AGENT_IDS = ["a1", "a2", "a3", "a4"]
CHANNELS = [Channel.CHAT, Channel.EMAIL, Channel.VOICE]

# Weighted towards agents who can take work, so that most examples plan several offers and
# the capacity limit is actually reached.
levels = st.integers(1, 3)
agents_strategy = st.lists(
    st.builds(
        AgentSnapshot,
        agent_id=st.sampled_from(AGENT_IDS),
        presence=st.sampled_from([Presence.ONLINE] * 8 + [Presence.AWAY, Presence.OFFLINE]),
        idle_since=st.sampled_from([EARLIER, EARLIER - timedelta(minutes=5), NOW]),
        skills=st.fixed_dictionaries({"billing": levels, "tech": levels}),
        languages=st.frozensets(st.sampled_from(["de", "en"]), min_size=1),
        capacity=st.fixed_dictionaries(
            {
                Channel.CHAT: st.integers(1, 4),
                Channel.EMAIL: st.integers(1, 4),
                Channel.VOICE: st.integers(0, 2),
            }
        ),
        active=st.fixed_dictionaries({c: st.integers(0, 1) for c in CHANNELS}),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda a: a.agent_id,
)
queues_strategy = st.fixed_dictionaries(
    {
        name: st.builds(
            QueueSnapshot,
            name=st.just(name),
            required_skills=st.dictionaries(
                st.sampled_from(["billing", "tech"]), st.integers(0, 2), max_size=1
            ),
            language=st.sampled_from([None, None, "de", "en"]),
            agent_ids=st.frozensets(st.sampled_from(AGENT_IDS), min_size=2),
        )
        for name in ("q1", "q2")
    }
)
waiting_strategy = st.lists(
    st.builds(
        WaitingConversation,
        conversation_id=st.text("abcdef", min_size=1, max_size=4),
        channel=st.sampled_from(CHANNELS),
        queue=st.sampled_from(["q1", "q2"]),
        priority=st.integers(0, 3),
        waiting_since=st.datetimes(
            min_value=datetime(2025, 6, 1), max_value=datetime(2025, 6, 2), timezones=st.just(UTC)
        ),
        previous_owner=st.sampled_from([None, *AGENT_IDS]),
        excluded=st.dictionaries(
            st.sampled_from(AGENT_IDS), st.just(left_out("declined")), max_size=1
        ),
    ),
    max_size=25,
    unique_by=lambda w: w.conversation_id,
)


@settings(max_examples=300, deadline=None)
@given(items=waiting_strategy, agents=agents_strategy, queues=queues_strategy)
def test_plan_never_exceeds_capacity_and_is_greedy(
    items: list[WaitingConversation],
    agents: list[AgentSnapshot],
    queues: dict[str, QueueSnapshot],
) -> None:
    plan = plan_assignments(items, agents, queues, NOW)
    by_conversation = {w.conversation_id: w for w in items}
    by_agent = {a.agent_id: a for a in agents}

    planned_ids = [conversation_id for conversation_id, _ in plan]
    assert len(planned_ids) == len(set(planned_ids))
    order = [w.conversation_id for w in order_waiting(items)]
    assert planned_ids == [cid for cid in order if cid in set(planned_ids)]

    added = Counter((agent_id, by_conversation[cid].channel) for cid, agent_id in plan)
    for (agent_id, channel), count in added.items():
        before = by_agent[agent_id].active.get(channel, 0)
        assert before + count <= by_agent[agent_id].capacity.get(channel, 0)

    final = [
        replace(a, active={c: a.active.get(c, 0) + added[(a.agent_id, c)] for c in CHANNELS})
        for a in agents
    ]
    for cid, agent_id in plan:
        item = by_conversation[cid]
        initial = judge_candidate(by_agent[agent_id], item, queues[item.queue], NOW)
        assert initial.eligible, initial.reasons
    for item in items:
        if item.conversation_id not in set(planned_ids):
            # Loads only grow during planning, so whoever could not take it then cannot now.
            assert not any(
                judge_candidate(a, item, queues[item.queue], NOW).eligible for a in final
            )


@given(items=waiting_strategy)
def test_order_waiting_is_a_sorted_permutation(items: list[WaitingConversation]) -> None:
    ordered = order_waiting(items)
    assert sorted(w.conversation_id for w in ordered) == sorted(w.conversation_id for w in items)
    for earlier, later in pairwise(ordered):
        assert (-earlier.priority, earlier.waiting_since, earlier.conversation_id) <= (
            -later.priority,
            later.waiting_since,
            later.conversation_id,
        )
    assert order_waiting(list(reversed(items))) == ordered


@settings(max_examples=300, deadline=None)
@given(items=waiting_strategy, agents=agents_strategy, queues=queues_strategy)
def test_plan_is_deciding_each_waiting_conversation_in_turn(
    items: list[WaitingConversation],
    agents: list[AgentSnapshot],
    queues: dict[str, QueueSnapshot],
) -> None:
    """Skipping the conversations nobody has room for changes no offer."""
    board = {a.agent_id: a for a in agents}
    expected = []
    for item in order_waiting(items):
        chosen = decide_owner(item, queues[item.queue], board.values(), NOW).agent_id
        if chosen is not None:
            expected.append((item.conversation_id, chosen))
            _count_offer(board, chosen, item.channel)
    assert plan_assignments(items, agents, queues, NOW) == expected


def _count_offer(board: dict[str, AgentSnapshot], agent_id: str, channel: Channel) -> None:
    """One more conversation on the agent's channel, busy since now: as an offer counts."""
    agent = board[agent_id]
    active = {**agent.active, channel: agent.active.get(channel, 0) + 1}
    board[agent_id] = replace(agent, active=active, idle_since=NOW)


@given(st.integers(0, 1000), st.integers(1, 1000), st.integers(0, 1000), st.integers(1, 1000))
def test_load_shares_compare_like_exact_fractions(a: int, b: int, c: int, d: int) -> None:
    """Capacities are at most 1,000 slots: the float share ties and orders exactly."""
    assert (a / b == c / d) == (a * d == c * b)
    assert (a / b < c / d) == (a * d < c * b)


@settings(max_examples=300, deadline=None)
@given(items=waiting_strategy, agents=agents_strategy, queues=queues_strategy)
def test_kept_judgements_decide_as_judging_afresh(
    items: list[WaitingConversation],
    agents: list[AgentSnapshot],
    queues: dict[str, QueueSnapshot],
) -> None:
    """Verdicts kept across decisions on a changing board: the same decisions, audits too."""
    board = {a.agent_id: a for a in agents}
    judgements = Judgements()
    for item in order_waiting(items):
        kept = decide_owner(item, queues[item.queue], board.values(), NOW, judgements=judgements)
        assert kept == decide_owner(item, queues[item.queue], board.values(), NOW)
        if kept.agent_id is not None:
            _count_offer(board, kept.agent_id, item.channel)
