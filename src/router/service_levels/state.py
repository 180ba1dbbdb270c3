"""A conversation's SLA clocks, settled from what is true of it now. Pure, no I/O.

Whenever something happens to a conversation (it opens, the customer writes, an agent
answers, it is resolved, reopened or moved to another queue, its priority changes), its
clocks are settled again from its facts and the active policy:

- `first_response` runs from the conversation's creation to the first agent reply;
- `next_response` runs from the oldest customer message still unanswered (once the first
  reply was given) to the next agent reply; a new wait starts the clock afresh;
- `resolution` runs from creation to resolution; time spent resolved does not count after
  a reopening, and with `pause_while_waiting_on_customer` neither does time during which the
  agent's reply is the last word.

Resolving a conversation stops its reply clocks too (there is nothing left to answer). The
policy is matched again each time, and a target that changed counts from the clock's
original start, so a higher priority can make a conversation overdue at once. A clock
already met, or already breached, stays as it was recorded.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from router.routing.hours import BusinessHours
from router.service_levels.clock import due_at, elapsed
from router.service_levels.policy import Calendar, SlaPolicy, Target


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    """What the clocks depend on, read from the conversation and its messages."""

    id: uuid.UUID
    open: bool
    created_at: datetime
    resolved_at: datetime | None
    awaiting_reply_since: datetime | None
    first_answer_at: datetime | None
    last_answer_at: datetime | None
    # The queue's business hours (None: the queue is always open).
    hours: BusinessHours | None


@dataclass(frozen=True, slots=True)
class SlaRow:
    """One target's clock on one conversation, as stored in `conversation_slas`."""

    conversation_id: uuid.UUID
    target: Target
    policy_name: str
    policy_version: int
    target_seconds: int
    calendar: Calendar
    started_at: datetime
    due_at: datetime | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None
    at_risk_from: datetime | None = None
    at_risk_at: datetime | None = None
    paused_since: datetime | None = None
    paused_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Settled:
    """What to write: rows new or changed, and targets no longer measured (never met)."""

    rows: list[SlaRow]
    dropped: list[Target]


def _seconds(span: timedelta) -> int:
    return round(span.total_seconds())


def settle(
    facts: ConversationFacts,
    policy: SlaPolicy | None,
    version: int,
    stored: Mapping[Target, SlaRow],
    now: datetime,
    at_risk_lead: timedelta,
) -> Settled:
    """The conversation's clocks after what happened, from its facts and matched policy."""
    changed: list[SlaRow] = []
    dropped: list[Target] = []
    for target in Target:
        row = stored.get(target)
        seconds = None if policy is None else policy.targets.seconds(target)
        if policy is None or seconds is None:
            if row is not None and row.met_at is None:
                dropped.append(target)
            continue
        hours = facts.hours if policy.calendar is Calendar.BUSINESS_HOURS else None
        if target is Target.FIRST_RESPONSE:
            settled = _first_response(facts, row, now)
        elif target is Target.NEXT_RESPONSE:
            settled = _next_response(facts, row, now)
        else:
            settled = _resolution(facts, row, policy, hours, now)
        if settled is None or (settled is row and row.met_at is not None):
            continue  # nothing to measure, or met and kept as recorded
        settled = _timed(settled, policy, version, seconds, hours, at_risk_lead)
        if settled != row:
            changed.append(settled)
    return Settled(changed, dropped)


def _fresh(facts: ConversationFacts, target: Target, started_at: datetime) -> SlaRow:
    # Policy fields are filled in by `_timed`.
    return SlaRow(
        conversation_id=facts.id,
        target=target,
        policy_name="",
        policy_version=0,
        target_seconds=0,
        calendar=Calendar.ALWAYS,
        started_at=started_at,
    )


def _first_response(facts: ConversationFacts, row: SlaRow | None, now: datetime) -> SlaRow | None:
    if row is None:
        if not facts.open and facts.first_answer_at is None:
            return None
        row = _fresh(facts, Target.FIRST_RESPONSE, facts.created_at)
    if row.met_at is None:
        met = facts.first_answer_at or (None if facts.open else facts.resolved_at or now)
        row = dataclasses.replace(row, met_at=met)
    return row


def _next_response(facts: ConversationFacts, row: SlaRow | None, now: datetime) -> SlaRow | None:
    if facts.first_answer_at is None:
        return None  # the first response's clock covers the first wait
    waiting = facts.awaiting_reply_since if facts.open else None
    if waiting is not None:
        if row is None or row.started_at != waiting:
            # A new wait: a fresh clock, whatever the last one came to.
            return _fresh(facts, Target.NEXT_RESPONSE, waiting)
        return row
    if row is None or row.met_at is not None:
        return row
    answered = facts.last_answer_at
    if answered is not None and answered >= row.started_at:
        return dataclasses.replace(row, met_at=answered)
    return dataclasses.replace(row, met_at=facts.resolved_at or now)


def _resolution(
    facts: ConversationFacts,
    row: SlaRow | None,
    policy: SlaPolicy,
    hours: BusinessHours | None,
    now: datetime,
) -> SlaRow | None:
    if row is None:
        if not facts.open:
            return None
        row = _fresh(facts, Target.RESOLUTION, facts.created_at)
    paused = row.paused_seconds
    if row.met_at is not None and facts.open:
        # Reopened: the time it spent resolved does not count.
        paused += _seconds(elapsed(row.met_at, now, hours))
        row = dataclasses.replace(row, met_at=None, paused_seconds=paused)
    if row.met_at is not None:
        return row
    waiting_on_customer = (
        policy.pause_while_waiting_on_customer
        and facts.open
        and facts.first_answer_at is not None
        and facts.awaiting_reply_since is None
    )
    if row.paused_since is not None and not waiting_on_customer:
        until = now if facts.open else (facts.resolved_at or now)
        paused += _seconds(elapsed(row.paused_since, until, hours))
        row = dataclasses.replace(row, paused_since=None, paused_seconds=paused)
    elif row.paused_since is None and waiting_on_customer:
        since = facts.last_answer_at or now
        row = dataclasses.replace(row, paused_since=max(since, row.started_at))
    if not facts.open:
        row = dataclasses.replace(row, met_at=facts.resolved_at or now)
    return row


def _timed(
    row: SlaRow,
    policy: SlaPolicy,
    version: int,
    seconds: int,
    hours: BusinessHours | None,
    at_risk_lead: timedelta,
) -> SlaRow:
    """The row under the policy's target, with its due time counted from its start."""
    row = dataclasses.replace(
        row,
        policy_name=policy.name,
        policy_version=version,
        target_seconds=seconds,
        calendar=policy.calendar,
    )
    if row.paused_since is not None:
        return dataclasses.replace(row, due_at=None, at_risk_from=None)
    if row.met_at is not None and row.due_at is not None:
        return row  # met now: it keeps the due time it ran against
    due = due_at(row.started_at, timedelta(seconds=seconds + row.paused_seconds), hours)
    lead = timedelta(seconds=policy.at_risk_seconds) if policy.at_risk_seconds else at_risk_lead
    return dataclasses.replace(row, due_at=due, at_risk_from=None if due is None else due - lead)
