"""The promises, checked over history rows (pure: no database, no broker).

Every change of a conversation is a `conversation_events` row. Ordered by when its
transaction committed (then by id inside one transaction), the rows of one conversation
give who owned it between which two changes; the rows of all conversations together give
how many conversations an agent held on a channel at every instant, and the offers made
to them. Transactions that give or take the same slot lock the same capacity row, so their
commit order is the order in which the database saw them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# Changes that end an agent's hold of a conversation (its `agent_id` is who lets go).
# `requeued`: a queue's time rule took it back (its owner gone, or no reply in time).
RELEASES = frozenset({"declined", "offer_timed_out", "offer_revoked", "resolved", "requeued"})
# Supervisors' and agents' moves: to an agent (`to_agent`) or to a queue (`to_queue`).
MOVES = frozenset({"transferred", "reassigned"})


@dataclass(frozen=True)
class Event:
    """One history row, with the instant its transaction committed."""

    id: int
    conversation_id: str
    kind: str
    agent_id: str | None
    at: datetime
    channel: str
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.at, self.id)


@dataclass(frozen=True)
class Hold:
    """An agent owning a conversation (offered or accepted) from one change to another."""

    conversation_id: str
    agent_id: str
    channel: str
    start: Event
    end: Event | None  # None: still held when the history was read


@dataclass
class Finding:
    """What one check found: how many violations, and a few of them described."""

    name: str
    violations: int = 0
    examples: list[str] = field(default_factory=list)
    note: str = ""

    def add(self, text: str, limit: int = 5) -> None:
        """Count a violation; keep its description while there are few."""
        self.violations += 1
        if len(self.examples) < limit:
            self.examples.append(text)


def _short(value: str | None) -> str:
    return (value or "-")[:8]


class _Owners:
    """One conversation's owner while its history is replayed."""

    def __init__(self, conversation: str, finding: Finding, holds: list[Hold]) -> None:
        self.conversation = conversation
        self.finding = finding
        self.holds = holds
        self.owner: str | None = None
        self.since: Event | None = None

    def let_go(self, event: Event, agent: str | None) -> None:
        if agent is None:
            return
        if agent != self.owner or self.since is None:
            self.finding.add(
                f"conversation {_short(self.conversation)}: {event.kind} (event {event.id}) "
                f"by agent {_short(agent)}, but the owner was {_short(self.owner)}"
            )
            return
        self.holds.append(Hold(self.conversation, agent, event.channel, self.since, event))
        self.owner, self.since = None, None

    def take(self, event: Event, agent: str) -> None:
        if self.owner is not None and self.since is not None:
            self.finding.add(
                f"conversation {_short(self.conversation)}: {event.kind} to agent "
                f"{_short(agent)} (event {event.id}, {event.at:%H:%M:%S.%f}) while agent "
                f"{_short(self.owner)} held it since event {self.since.id}"
            )
            self.holds.append(Hold(self.conversation, self.owner, event.channel, self.since, event))
        self.owner, self.since = agent, event

    def apply(self, event: Event) -> None:
        agent = event.agent_id
        if event.kind == "offered" and agent is not None:
            self.take(event, agent)
        elif event.kind == "accepted" and agent is not None:
            if self.owner is None:
                self.take(event, agent)  # its last owner reopened it: accepted at once
            elif self.owner != agent:
                self.finding.add(
                    f"conversation {_short(self.conversation)}: agent {_short(agent)} accepted "
                    f"(event {event.id}) while agent {_short(self.owner)} held it"
                )
        elif event.kind in RELEASES:
            self.let_go(event, agent)
        elif event.kind in MOVES:
            target = event.details.get("to_agent")
            if target:
                source = event.details.get("from_agent")
                self.let_go(event, str(source) if source else None)
                self.take(event, str(target))
            else:
                self.let_go(event, agent)

    def finish(self) -> None:
        if self.owner is not None and self.since is not None:
            self.holds.append(
                Hold(self.conversation, self.owner, self.since.channel, self.since, None)
            )


def ownership(events: Iterable[Event]) -> tuple[list[Hold], Finding]:
    """Rebuild every conversation's owners from its history; flag any second owner.

    A conversation is taken by an offer, an accept with no owner (its last owner reopening
    it), or a move to an agent; it is let go by a decline, a lapse, a revoke, a resolve, a
    queue's time rule (`requeued`) or a move to a queue. Taking a conversation someone else
    still holds, accepting another agent's offer, or letting go of one you do not hold are
    violations. Within one
    conversation the ids give the order: its changes are made under its row lock.
    """
    finding = Finding("2. one owner at every instant")
    by_conversation: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_conversation[event.conversation_id].append(event)
    holds: list[Hold] = []
    for conversation, history in by_conversation.items():
        owners = _Owners(conversation, finding, holds)
        for event in sorted(history, key=lambda e: e.id):
            owners.apply(event)
        owners.finish()
    return holds, finding


def capacity(holds: Sequence[Hold], capacities: Mapping[tuple[str, str], int]) -> Finding:
    """At no instant may an agent hold more conversations on a channel than their capacity.

    Offers count: an offer takes its slot until it is accepted, declined or lapses.
    """
    finding = Finding("3. within capacity at every instant")
    points: dict[tuple[str, str], list[tuple[tuple[datetime, int], int, str]]] = defaultdict(list)
    for hold in holds:
        key = (hold.agent_id, hold.channel)
        points[key].append((hold.start.order, 1, hold.conversation_id))
        if hold.end is not None:
            # Same instant and id: the slot is freed before it is taken again.
            points[key].append((hold.end.order, -1, hold.conversation_id))
    for (agent, channel), marks in points.items():
        limit = capacities.get((agent, channel), 0)
        held: set[str] = set()
        reported = False
        for (at, event_id), step, conversation in sorted(marks, key=lambda m: (m[0], m[1])):
            if step < 0:
                held.discard(conversation)
                continue
            held.add(conversation)
            if len(held) > limit and not reported:
                reported = True  # one example per agent and channel; each excess counts
                finding.add(
                    f"agent {_short(agent)} held {len(held)} on {channel} (capacity {limit}) "
                    f"at {at:%H:%M:%S.%f} (event {event_id}): "
                    + ", ".join(sorted(_short(c) for c in held))
                )
            elif len(held) > limit:
                finding.violations += 1
    return finding


@dataclass(frozen=True)
class PresenceChange:
    """One row of `presence_changes`, with the instant its transaction committed."""

    agent_id: str
    from_presence: str
    to_presence: str
    at: datetime


def presence_at(
    changes: Sequence[PresenceChange], instant: datetime, current: str | None
) -> str | None:
    """An agent's presence at an instant, from their changes sorted by time.

    Before their first change an agent was what that change started from; with no change
    at all, what they are now.
    """
    if not changes:
        return current
    found = changes[0].from_presence
    for change in changes:
        if change.at > instant:
            break
        found = change.to_presence
    return found


def offers_to_online(
    events: Iterable[Event],
    changes: Iterable[PresenceChange],
    current: Mapping[str, str],
) -> Finding:
    """Every offer (routing's, a drain's, a transfer to an agent) went to an online agent."""
    finding = Finding("4. offers only to online agents")
    timeline: dict[str, list[PresenceChange]] = defaultdict(list)
    for change in changes:
        timeline[change.agent_id].append(change)
    for agent_changes in timeline.values():
        agent_changes.sort(key=lambda c: c.at)
    for event in events:
        if event.kind == "offered":
            agent = event.agent_id
        elif event.kind in MOVES and event.details.get("offer_state") == "offered":
            agent = str(event.details.get("to_agent") or "") or None
        else:
            continue
        if agent is None:
            continue
        presence = presence_at(timeline.get(agent, []), event.at, current.get(agent))
        if presence != "online":
            finding.add(
                f"conversation {_short(event.conversation_id)} offered to agent "
                f"{_short(agent)} at {event.at:%H:%M:%S.%f} (event {event.id}) "
                f"while {presence}"
            )
    return finding


@dataclass(frozen=True)
class Answered:
    """One webhook's message and every answer its deliveries got."""

    provider: str
    message_id: str
    statuses: tuple[int, ...]

    @property
    def accepted(self) -> bool:
        return any(200 <= status < 300 for status in self.statuses)


def stored_once(answers: Iterable[Answered], stored: Mapping[tuple[str, str], int]) -> Finding:
    """Every message answered 2xx at least once is stored, and none is stored twice."""
    finding = Finding("1. every 2xx stored exactly once")
    for answer in answers:
        if answer.accepted and stored.get((answer.provider, answer.message_id), 0) == 0:
            finding.add(
                f"{answer.provider} {answer.message_id} answered {list(answer.statuses)}, "
                "no message row"
            )
    for (provider, message_id), count in stored.items():
        if count > 1:
            finding.add(f"{provider} {message_id}: {count} message rows")
    return finding


def no_internal_errors(counts: Mapping[str, int]) -> Finding:
    """Check 7: no webhook was answered 500 (faults of the world answer 503 and are retried)."""
    finding = Finding("7. no webhook answered 500")
    errors = {status: n for status, n in counts.items() if status.isdigit() and status >= "500"}
    errors.pop("503", None)
    finding.violations = sum(errors.values())
    finding.examples = [f"{n} answered {status}" for status, n in sorted(errors.items())]
    finding.note = f"{sum(counts.values())} deliveries"
    return finding
