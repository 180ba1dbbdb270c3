"""The chaos run's checks over synthetic history rows (pure: no database, no broker)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from chaos.checks import (
    Answered,
    Event,
    PresenceChange,
    capacity,
    offers_to_online,
    ownership,
    presence_at,
    stored_once,
)
from chaos.faults import FaultPlan, plan_faults
from chaos.webhooks import retried

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
A, B = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"


class History:
    """Builds event rows with growing ids; `at` in seconds after T0."""

    def __init__(self) -> None:
        self.rows: list[Event] = []

    def add(
        self,
        conversation: str,
        kind: str,
        agent: str | None,
        at: float,
        channel: str = "chat",
        **details: object,
    ) -> Event:
        event = Event(
            len(self.rows) + 1,
            conversation,
            kind,
            agent,
            T0 + timedelta(seconds=at),
            channel,
            details,
        )
        self.rows.append(event)
        return event


def test_offer_accept_resolve_is_one_hold_and_no_violation() -> None:
    history = History()
    history.add("c1", "created", None, 0)
    history.add("c1", "queued", None, 0)
    history.add("c1", "offered", A, 1)
    history.add("c1", "accepted", A, 2)
    history.add("c1", "resolved", A, 5)

    holds, finding = ownership(history.rows)

    assert finding.violations == 0
    assert [(h.agent_id, h.start.id, h.end.id if h.end else None) for h in holds] == [(A, 3, 5)]


def test_an_offer_to_a_second_agent_while_the_first_holds_it_is_two_owners() -> None:
    history = History()
    history.add("c1", "offered", A, 1)
    history.add("c1", "accepted", A, 2)
    history.add("c1", "offered", B, 3)

    holds, finding = ownership(history.rows)

    assert finding.violations == 1
    assert "while agent aaaaaaaa held it" in finding.examples[0]
    assert {(h.agent_id, h.end is None) for h in holds} == {(A, False), (B, True)}


def test_declines_lapses_and_transfers_hand_the_conversation_on_cleanly() -> None:
    history = History()
    history.add("c1", "offered", A, 1)
    history.add("c1", "declined", A, 2)
    history.add("c1", "offered", B, 3)
    history.add("c1", "offer_timed_out", B, 4)
    history.add("c1", "offered", A, 5)
    history.add("c1", "accepted", A, 6)
    history.add("c1", "transferred", B, 7, from_agent=A, to_agent=B, offer_state="offered")
    history.add("c1", "accepted", B, 8)
    history.add("c1", "reassigned", B, 9, from_agent=B, to_queue="q2")

    holds, finding = ownership(history.rows)

    assert finding.violations == 0
    assert [h.agent_id for h in holds] == [A, B, A, B]
    assert all(h.end is not None for h in holds)


def test_a_queue_s_time_rule_hands_the_conversation_back_cleanly() -> None:
    history = History()
    history.add("c1", "offered", A, 1)
    history.add("c1", "accepted", A, 2)
    history.add("c1", "reply_overdue", A, 60)
    history.add("c1", "requeued", A, 60)
    history.add("c1", "offered", B, 60)
    history.add("c1", "accepted", B, 61)

    holds, finding = ownership(history.rows)

    assert finding.violations == 0
    assert [(h.agent_id, h.end.kind if h.end else None) for h in holds] == [
        (A, "requeued"),
        (B, None),
    ]


def test_a_release_by_someone_who_does_not_hold_it_is_a_violation() -> None:
    history = History()
    history.add("c1", "offered", A, 1)
    history.add("c1", "resolved", B, 2)

    _, finding = ownership(history.rows)

    assert finding.violations == 1


def test_holding_more_than_the_capacity_at_one_instant_is_found() -> None:
    history = History()
    history.add("c1", "offered", A, 1)
    history.add("c2", "offered", A, 2)  # capacity 1, c1 still held
    history.add("c1", "resolved", A, 3)
    holds, _ = ownership(history.rows)

    finding = capacity(holds, {(A, "chat"): 1})

    assert finding.violations == 1
    assert "held 2 on chat (capacity 1)" in finding.examples[0]


def test_a_slot_freed_and_taken_again_in_one_transaction_stays_within_capacity() -> None:
    history = History()
    history.add("c1", "offered", A, 1)
    history.add("c1", "offer_timed_out", A, 2)  # the sweep's transaction: same commit time,
    history.add("c2", "offered", A, 2)  # freed first (lower id), then offered again
    history.add("c3", "offered", B, 2)
    holds, _ = ownership(history.rows)

    assert capacity(holds, {(A, "chat"): 1, (B, "chat"): 1}).violations == 0


def test_capacity_is_per_channel() -> None:
    history = History()
    history.add("c1", "offered", A, 1, channel="chat")
    history.add("c2", "offered", A, 2, channel="email")
    holds, _ = ownership(history.rows)

    assert capacity(holds, {(A, "chat"): 1, (A, "email"): 1}).violations == 0


def test_presence_at_an_instant_reads_the_last_change_before_it() -> None:
    changes = [
        PresenceChange(A, "offline", "online", T0 + timedelta(seconds=1)),
        PresenceChange(A, "online", "away", T0 + timedelta(seconds=5)),
    ]

    assert presence_at(changes, T0, "away") == "offline"
    assert presence_at(changes, T0 + timedelta(seconds=3), "away") == "online"
    assert presence_at(changes, T0 + timedelta(seconds=9), "away") == "away"
    assert presence_at([], T0, "online") == "online"


def test_offers_to_agents_who_were_not_online_then_are_found() -> None:
    history = History()
    history.add("c1", "offered", A, 2)  # online since 1 s: fine
    history.add("c2", "offered", A, 6)  # away since 5 s
    history.add("c3", "transferred", A, 7, from_agent=B, to_agent=A, offer_state="offered")
    history.add("c4", "reassigned", A, 8, from_agent=B, to_agent=A, offer_state="accepted")
    history.add("c5", "offered", B, 8)  # no change of B: what B is now
    changes = [
        PresenceChange(A, "offline", "online", T0 + timedelta(seconds=1)),
        PresenceChange(A, "online", "away", T0 + timedelta(seconds=5)),
    ]

    finding = offers_to_online(history.rows, changes, {A: "away", B: "online"})

    assert finding.violations == 2
    assert "while away" in finding.examples[0]


def test_messages_answered_2xx_must_be_stored_once() -> None:
    answers = [
        Answered("webchat", "m1", (200, 200)),
        Answered("webchat", "m2", (503, 200)),  # stored after the retry
        Answered("meta", "m3", (503, 503)),  # never accepted: may be missing
        Answered("meta", "m4", (0, 200)),  # accepted, but missing
    ]
    stored = {("webchat", "m1"): 1, ("webchat", "m2"): 2}

    finding = stored_once(answers, stored)

    assert finding.violations == 2
    assert any("m4" in example for example in finding.examples)
    assert any("m2: 2 message rows" in example for example in finding.examples)


def test_the_fault_plan_has_every_fault_within_the_load_and_the_slow_ones_apart() -> None:
    faults = plan_faults(random.Random(7), 240.0, FaultPlan())

    kinds = [fault.what for fault in faults]
    assert kinds.count("consumer SIGKILL") == 10
    assert kinds.count("broker kill") == 1
    assert kinds.count("postgres restart") == 2
    assert all(fault.at > 0 and fault.at + fault.down < 240 for fault in faults)
    slow = sorted((f for f in faults if f.what != "consumer SIGKILL"), key=lambda f: f.at)
    assert all(a.at + a.down < b.at for a, b in itertools.pairwise(slow))
    assert sorted(f.down for f in slow if f.what == "postgres restart")[-1] == 30.0


def test_providers_retry_failures_but_not_refusals() -> None:
    assert [retried(status) for status in (0, 429, 500, 503)] == [True] * 4
    assert [retried(status) for status in (200, 202, 401, 413, 422)] == [False] * 5


def test_a_webhook_answered_500_is_a_violation_and_503_is_not() -> None:
    from collections import Counter

    from chaos.checks import no_internal_errors

    clean = no_internal_errors(Counter({"2xx": 90, "503": 10}))
    assert (clean.violations, clean.note) == (0, "100 deliveries")
    broken = no_internal_errors(Counter({"2xx": 90, "503": 8, "500": 1, "502": 1, "0": 3}))
    assert broken.violations == 2
    assert broken.examples == ["1 answered 500", "1 answered 502"]
