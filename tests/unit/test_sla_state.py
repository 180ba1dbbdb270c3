"""Settling a conversation's SLA clocks from its facts: pure, no database."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from router.service_levels.policy import Calendar, SlaPolicy, Target
from router.service_levels.state import ConversationFacts, SlaRow, settle

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CID = uuid.uuid4()
LEAD = timedelta(minutes=5)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def facts(**changes: object) -> ConversationFacts:
    base = ConversationFacts(
        id=CID,
        open=True,
        created_at=T0,
        resolved_at=None,
        awaiting_reply_since=T0,
        first_answer_at=None,
        last_answer_at=None,
        hours=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def policy(**targets: int) -> SlaPolicy:
    return SlaPolicy.model_validate({"name": "p", "targets": targets})


def stored(rows: list[SlaRow]) -> dict[Target, SlaRow]:
    return {row.target: row for row in rows}


def test_opening_sets_due_times_and_the_at_risk_lead() -> None:
    settled = settle(facts(), policy(first_response=600, resolution=3600), 3, {}, T0, LEAD)
    by_target = stored(settled.rows)
    assert set(by_target) == {Target.FIRST_RESPONSE, Target.RESOLUTION}
    first = by_target[Target.FIRST_RESPONSE]
    assert (first.due_at, first.at_risk_from, first.policy_version) == (at(600), at(300), 3)
    assert first.calendar is Calendar.ALWAYS


def test_nothing_changed_writes_nothing() -> None:
    chosen = policy(first_response=600)
    first = settle(facts(), chosen, 1, {}, T0, LEAD).rows
    assert settle(facts(), chosen, 1, stored(first), at(100), LEAD).rows == []


def test_a_policy_that_stops_measuring_drops_unmet_clocks_and_keeps_met_ones() -> None:
    rows = settle(
        facts(first_answer_at=at(60), last_answer_at=at(60), awaiting_reply_since=None),
        policy(first_response=600, resolution=3600),
        1,
        {},
        at(60),
        LEAD,
    ).rows
    settled = settle(facts(), None, 2, stored(rows), at(90), LEAD)
    assert settled.rows == []
    assert settled.dropped == [Target.RESOLUTION]


def test_resolving_unanswered_stops_the_reply_clock() -> None:
    chosen = policy(first_response=600, resolution=3600)
    rows = stored(settle(facts(), chosen, 1, {}, T0, LEAD).rows)
    resolved = facts(open=False, resolved_at=at(200), awaiting_reply_since=None)
    after = stored(settle(resolved, chosen, 1, rows, at(200), LEAD).rows)
    assert after[Target.FIRST_RESPONSE].met_at == at(200)
    assert after[Target.RESOLUTION].met_at == at(200)
    assert after[Target.RESOLUTION].due_at == at(3600)


def test_a_new_wait_starts_a_fresh_next_response_clock() -> None:
    chosen = policy(next_response=300)
    answered = facts(first_answer_at=at(60), last_answer_at=at(60), awaiting_reply_since=at(100))
    [first_wait] = settle(answered, chosen, 1, {}, at(100), LEAD).rows
    breached = dataclasses.replace(first_wait, breached_at=at(400), at_risk_at=at(350))
    later = facts(first_answer_at=at(60), last_answer_at=at(500), awaiting_reply_since=None)
    [met] = settle(later, chosen, 1, {Target.NEXT_RESPONSE: breached}, at(500), LEAD).rows
    assert (met.met_at, met.breached_at) == (at(500), at(400))
    again = facts(first_answer_at=at(60), last_answer_at=at(500), awaiting_reply_since=at(900))
    [fresh] = settle(again, chosen, 1, {Target.NEXT_RESPONSE: met}, at(900), LEAD).rows
    assert (fresh.started_at, fresh.due_at, fresh.met_at) == (at(900), at(1200), None)
    assert (fresh.breached_at, fresh.at_risk_at) == (None, None)


def test_retargeting_keeps_the_start_and_a_recorded_breach() -> None:
    [slow] = settle(facts(), policy(first_response=3600), 1, {}, T0, LEAD).rows
    slow = dataclasses.replace(slow, breached_at=None)
    [quick] = settle(facts(), policy(first_response=60), 2, {slow.target: slow}, at(30), LEAD).rows
    assert (quick.started_at, quick.due_at, quick.policy_version) == (T0, at(60), 2)
    # Already breached under the quick target, then relaxed: the breach stays recorded.
    breached = dataclasses.replace(quick, breached_at=at(60))
    [relaxed] = settle(
        facts(), policy(first_response=3600), 3, {quick.target: breached}, at(90), LEAD
    ).rows
    assert (relaxed.due_at, relaxed.breached_at) == (at(3600), at(60))
