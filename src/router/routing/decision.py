"""The choice of a conversation's owner: an agent who gets the offer, or the queue itself.

Everything here is a pure function of snapshots taken by the service layer: the conversation,
its queue, the candidate agents and the clock. Nothing here reads or writes state, so the
same inputs always give the same decision, ties included.

An agent is eligible when they are online, serve the queue, hold every skill the queue
requires at the minimum level or above, speak the queue's language (if it has one), have a
capacity above zero on the conversation's channel with fewer active conversations there than
that capacity, are not on a live call when the queue keeps agents on calls from the channel
(`while_on_call`), and are not excluded from it at that moment (an exclusion ends at its
`until`; see `router.routing.exclusions`). The previous owner gets the offer
when eligible (sticky); otherwise the least loaded eligible agent does, by active/capacity on
the channel, then fewer active conversations, then the longest idle, then the smallest id.
A closed queue makes no offers: its conversations wait until it opens.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from router.channels import Channel, Presence
from router.routing.exclusions import Exclusion
from router.routing.hours import BusinessHours, is_open
from router.voice.schemas import WhileOnCall


class Outcome(StrEnum):
    """What happens to the conversation: an agent is offered it, or it waits in the queue."""

    OFFER = "offer"
    WAIT = "wait"


class WaitingOrder(StrEnum):
    """How a queue orders its waiting conversations within one priority."""

    ARRIVAL = "arrival"
    # The nearest SLA due time first (router.service_levels); those with none after them.
    SLA_DUE = "sla_due"


class DecisionReason(StrEnum):
    """Why the decision came out as it did; stored verbatim in the audit trail."""

    STICKY = "sticky previous owner"
    LEAST_LOADED = "least loaded"
    NO_ELIGIBLE_AGENT = "no eligible agent"
    QUEUE_CLOSED = "queue closed"


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True, kw_only=True)
class QueueSnapshot:
    """A team queue as routing sees it: what it requires, who serves it, when it is open."""

    name: str
    required_skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    agent_ids: frozenset[str] = frozenset()
    hours: BusinessHours | None = None
    overflow_queue: str | None = None
    while_on_call: WhileOnCall = WhileOnCall.ALLOW
    order_waiting: WaitingOrder = WaitingOrder.ARRIVAL


@dataclass(frozen=True, kw_only=True)
class AgentSnapshot:
    """An agent's presence, abilities and current load per channel at decision time.

    `idle_since` is when the agent last got or finished work; it breaks ties in favour of the
    agent who has waited longest.
    """

    agent_id: str
    presence: Presence
    idle_since: datetime
    skills: Mapping[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset()
    capacity: Mapping[Channel, int] = field(default_factory=dict)
    active: Mapping[Channel, int] = field(default_factory=dict)
    # Talking on a live call: the queue's `while_on_call` says what else they may get.
    on_call: bool = False

    def __post_init__(self) -> None:
        _require_aware("idle_since", self.idle_since)
        if any(value < 0 for value in (*self.capacity.values(), *self.active.values())):
            raise ValueError(f"agent {self.agent_id}: capacity and active counts must be >= 0")


@dataclass(frozen=True, kw_only=True)
class ConversationToRoute:
    """A conversation that needs an owner.

    `excluded` maps agents left out of its offers to why ("declined", "timed out") and until
    when; an exclusion that has ended at decision time leaves the agent out no longer.
    """

    conversation_id: str
    channel: Channel
    previous_owner: str | None = None
    excluded: Mapping[str, Exclusion] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class WaitingConversation(ConversationToRoute):
    """A conversation waiting in a queue for an agent, with its priority (higher = sooner).

    `sla_due_at` is the nearest due time of its unmet SLA clocks, if it has any.
    """

    queue: str
    priority: int
    waiting_since: datetime
    sla_due_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware("waiting_since", self.waiting_since)
        if self.sla_due_at is not None:
            _require_aware("sla_due_at", self.sla_due_at)


class CandidateVerdict(NamedTuple):
    """Whether one agent could take the conversation and, if not, every reason why.

    A named tuple rather than a dataclass: one is made per agent per decision. `summary` is
    the verdict in one line, as the audit trail shows it: "eligible (1/3 on chat)" or
    "offline; full on chat (3/3)".
    """

    agent_id: str
    channel: Channel
    reasons: tuple[str, ...]
    active: int
    capacity: int
    summary: str

    @property
    def eligible(self) -> bool:
        """True when nothing speaks against offering this agent the conversation."""
        return not self.reasons


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The owner chosen for a conversation, with the explanation kept for audit."""

    conversation_id: str
    queue: str
    outcome: Outcome
    agent_id: str | None
    reason: DecisionReason
    candidates: tuple[CandidateVerdict, ...]
    decided_at: datetime

    def audit(self) -> dict[str, object]:
        """Return the decision as JSON-ready data for the conversation's event row.

        `candidates` groups every agent judged by their verdict: `{"eligible (0/3 on chat)":
        ["ada", "bob"], "offline": ["cyd"]}`, agents in id order within a verdict and verdicts
        in the order of their first agent. A team mostly shares a handful of verdicts, so the
        audit stays small however large the team: each agent's id once, each verdict once.
        """
        groups: dict[str, list[str]] = {}
        for verdict in self.candidates:
            members = groups.get(verdict.summary)
            if members is None:
                groups[verdict.summary] = [verdict.agent_id]
            else:
                members.append(verdict.agent_id)
        return {
            "conversation_id": self.conversation_id,
            "queue": self.queue,
            "outcome": self.outcome.value,
            "agent_id": self.agent_id,
            "reason": self.reason.value,
            "decided_at": self.decided_at.isoformat(),
            "candidates": groups,
        }


def speaks(languages: Iterable[str], required: str) -> bool:
    """Tell whether any of the languages covers the required one (BCP 47, ignoring case).

    "de-AT" covers a queue in "de"; "de" does not cover a queue in "de-AT".
    """
    wanted = required.casefold()
    return any(
        spoken.casefold() == wanted or spoken.casefold().startswith(wanted + "-")
        for spoken in languages
    )


def judge_candidate(
    agent: AgentSnapshot, conversation: ConversationToRoute, queue: QueueSnapshot, now: datetime
) -> CandidateVerdict:
    """Check one agent against every eligibility rule at `now` and collect each rule they fail."""
    _require_aware("now", now)
    return _Judge(conversation, queue, now)(agent)


def excluded_at(conversation: ConversationToRoute, now: datetime) -> dict[str, Exclusion]:
    """The conversation's exclusions still in force at `now`."""
    return {
        agent_id: exclusion
        for agent_id, exclusion in conversation.excluded.items()
        if exclusion.in_force(now)
    }


class _Judge:
    """`judge_candidate` with what depends only on the conversation and queue worked out once.

    A decision judges every agent; this keeps the per-agent work to lookups and comparisons.
    """

    __slots__ = (
        "blocked_on_call",
        "channel",
        "excluded",
        "language",
        "members",
        "name",
        "queue",
        "skills",
    )

    def __init__(
        self, conversation: ConversationToRoute, queue: QueueSnapshot, now: datetime
    ) -> None:
        self.channel = conversation.channel
        self.name = conversation.channel.value
        self.excluded = excluded_at(conversation, now)
        self.members = queue.agent_ids
        self.queue = queue.name
        self.skills = sorted(queue.required_skills.items())
        self.language = queue.language
        self.blocked_on_call = queue.while_on_call.blocks(conversation.channel)

    def __call__(self, agent: AgentSnapshot) -> CandidateVerdict:
        channel = self.channel
        capacity = agent.capacity.get(channel, 0)
        active = agent.active.get(channel, 0)
        reasons: list[str] = []
        if agent.presence is not _ONLINE:
            reasons.append(agent.presence.value)
        if agent.agent_id not in self.members:
            reasons.append(f"does not serve queue {self.queue}")
        for skill, level in self.skills:
            held = agent.skills.get(skill)
            if held is None:
                reasons.append(f"missing skill {skill}>={level}")
            elif held < level:
                reasons.append(f"missing skill {skill}>={level} (has {held})")
        if self.language is not None and not speaks(agent.languages, self.language):
            reasons.append(f"does not speak {self.language}")
        if capacity <= 0:
            reasons.append(f"no capacity on {self.name}")
        elif active >= capacity:
            reasons.append(f"full on {self.name} ({active}/{capacity})")
        if agent.on_call and self.blocked_on_call:
            reasons.append("on a call")
        exclusion = self.excluded.get(agent.agent_id)
        if exclusion is not None:
            assert exclusion.until is not None  # only exclusions in force are kept
            reasons.append(f"excluded: {exclusion.reason} until {exclusion.until.isoformat()}")
        summary = (
            "; ".join(reasons) if reasons else f"eligible ({active}/{capacity} on {self.name})"
        )
        return CandidateVerdict(agent.agent_id, channel, tuple(reasons), active, capacity, summary)


_ONLINE = Presence.ONLINE


class Judgements:
    """Verdicts kept from one decision to the next, for decisions made on one board.

    A verdict depends only on the agent's snapshot, the queue and the conversation's channel
    and exclusions in force. Snapshots are immutable and a board replaces an agent's whenever their
    counts change, so a kept verdict (with the agent's load rank) is reused while its agent's
    snapshot is the very one it was judged from, and the agent is judged again otherwise.
    Conversations with exclusions in force are judged afresh. A batch deciding a hundred
    conversations for a team of fifty judges each agent once, and again only when an offer
    changed their load.
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[tuple[str, Channel], tuple[QueueSnapshot, _Judge, dict[str, _Kept]]] = {}

    def judge(
        self,
        conversation: ConversationToRoute,
        queue: QueueSnapshot,
        agents: list[AgentSnapshot],
        now: datetime,
    ) -> tuple[tuple[CandidateVerdict, ...], dict[str, Rank]]:
        """The verdicts on `agents` (in their order) and the eligible ones' load ranks."""
        # Exclusions that have ended leave the conversation judged like any other.
        if conversation.excluded and excluded_at(conversation, now):
            return _judged(_Judge(conversation, queue, now), agents)
        key = (queue.name, conversation.channel)
        kept = self._kept.get(key)
        if kept is None or kept[0] is not queue:
            kept = self._kept[key] = (queue, _Judge(conversation, queue, now), {})
        _, judge, by_agent = kept
        verdicts = []
        ranks = {}
        for agent in agents:
            known = by_agent.get(agent.agent_id)
            if known is None or known[0] is not agent:
                verdict = judge(agent)
                rank = load_rank(agent, judge.channel) if verdict.eligible else None
                known = by_agent[agent.agent_id] = (agent, verdict, rank)
            verdicts.append(known[1])
            if known[2] is not None:
                ranks[agent.agent_id] = known[2]
        return tuple(verdicts), ranks


Rank = tuple[float, int, datetime, str]
_Kept = tuple[AgentSnapshot, CandidateVerdict, Rank | None]


def _judged(
    judge: _Judge, agents: list[AgentSnapshot]
) -> tuple[tuple[CandidateVerdict, ...], dict[str, Rank]]:
    verdicts = tuple(judge(agent) for agent in agents)
    ranks = {
        agent.agent_id: load_rank(agent, judge.channel)
        for agent, verdict in zip(agents, verdicts, strict=True)
        if verdict.eligible
    }
    return verdicts, ranks


def decide_owner(
    conversation: ConversationToRoute,
    queue: QueueSnapshot,
    agents: Iterable[AgentSnapshot],
    now: datetime,
    *,
    judgements: Judgements | None = None,
) -> Decision:
    """Choose who owns the conversation now: an agent to offer it to, or the queue.

    Every candidate is judged (and listed, by agent id) even when the queue is closed, so the
    audit trail shows who could have taken it. `judgements` keeps verdicts between decisions
    on the same board (see `Judgements`); the decision is the same with or without it.
    """
    _require_aware("now", now)
    by_id = _index_agents(agents)
    ordered = [by_id[agent_id] for agent_id in sorted(by_id)]
    if judgements is None:
        verdicts, eligible = _judged(_Judge(conversation, queue, now), ordered)
    else:
        verdicts, eligible = judgements.judge(conversation, queue, ordered, now)

    def decision(outcome: Outcome, agent_id: str | None, reason: DecisionReason) -> Decision:
        return Decision(
            conversation_id=conversation.conversation_id,
            queue=queue.name,
            outcome=outcome,
            agent_id=agent_id,
            reason=reason,
            candidates=verdicts,
            decided_at=now,
        )

    if not is_open(queue.hours, now):
        return decision(Outcome.WAIT, None, DecisionReason.QUEUE_CLOSED)
    if conversation.previous_owner in eligible:
        return decision(Outcome.OFFER, conversation.previous_owner, DecisionReason.STICKY)
    if not eligible:
        return decision(Outcome.WAIT, None, DecisionReason.NO_ELIGIBLE_AGENT)
    chosen = min(eligible, key=eligible.__getitem__)
    return decision(Outcome.OFFER, chosen, DecisionReason.LEAST_LOADED)


def load_rank(agent: AgentSnapshot, channel: Channel) -> Rank:
    """The sort key of "least loaded": share of capacity used, active count, idle since, id.

    Equal shares must tie, so that 1/2 and 2/4 fall through to the absolute count (fewer
    active conversations wins). A float division keeps that exactly for counts like these:
    equal fractions round to the same float, and two different ones with denominators below
    2**26 differ by far more than a rounding step, so their order is kept too. Only
    meaningful for capacity > 0.
    """
    active = agent.active.get(channel, 0)
    return (active / agent.capacity[channel], active, agent.idle_since, agent.agent_id)


def resolve_queue_for_hours(
    queue: QueueSnapshot, queues_by_name: Mapping[str, QueueSnapshot], now: datetime
) -> QueueSnapshot:
    """Follow the overflow chain from a closed queue to the first queue open at `now`.

    Returns `queue` itself when it is open, and also when no queue along the chain is open,
    the chain names an unknown queue, or it loops back on itself: the conversation then waits
    in its original queue.
    """
    visited = {queue.name}
    current = queue
    while not is_open(current.hours, now):
        name = current.overflow_queue
        if name is None or name in visited or name not in queues_by_name:
            return queue
        visited.add(name)
        current = queues_by_name[name]
    return current


def order_waiting(
    waiting: Iterable[WaitingConversation], queues: Mapping[str, QueueSnapshot] | None = None
) -> list[WaitingConversation]:
    """Order waiting conversations for draining: priority high first, then oldest, then id.

    In a queue ordered by `sla_due`, within one priority the conversation due soonest comes
    first (one about to breach, or breached, before one that merely waited longer); those
    with no SLA clock follow, oldest first.
    """

    def key(item: WaitingConversation) -> tuple[int, int, datetime, datetime, str]:
        queue = queues.get(item.queue) if queues is not None else None
        by_due = queue is not None and queue.order_waiting is WaitingOrder.SLA_DUE
        if by_due and item.sla_due_at is not None:
            return (-item.priority, 0, item.sla_due_at, item.waiting_since, item.conversation_id)
        rank = 1 if by_due else 0
        return (-item.priority, rank, item.waiting_since, item.waiting_since, item.conversation_id)

    return sorted(waiting, key=key)


def plan_assignments(
    waiting: Iterable[WaitingConversation],
    agents: Iterable[AgentSnapshot],
    queues: Mapping[str, QueueSnapshot],
    now: datetime,
) -> list[tuple[str, str]]:
    """Plan offers for waiting conversations: (conversation id, agent id) pairs, in drain order.

    The pairs of `plan_offers`.
    """
    return [
        (decision.conversation_id, decision.agent_id)
        for decision in plan_offers(waiting, agents, queues, now)
        if decision.agent_id is not None
    ]


def plan_offers(
    waiting: Iterable[WaitingConversation],
    agents: Iterable[AgentSnapshot],
    queues: Mapping[str, QueueSnapshot],
    now: datetime,
) -> list[Decision]:
    """Plan offers for waiting conversations: the decisions that offer, in drain order.

    Each decision keeps its verdicts on the team, for the offer's explanation. Greedy in
    `order_waiting` order, with the same rules as `decide_owner`. Each planned offer counts
    against the agent's capacity on that channel and marks them busy since `now`, so the
    plan never puts an agent over capacity and spreads equal work round the team.
    Conversations of closed queues are not planned.
    """
    _require_aware("now", now)
    board = _index_agents(agents)
    ordered = order_waiting(waiting, queues)
    if len({item.conversation_id for item in ordered}) != len(ordered):
        raise ValueError("a conversation is listed twice among the waiting")
    for item in ordered:
        if item.queue not in queues:
            raise ValueError(f"conversation {item.conversation_id}: unknown queue {item.queue}")
    # Online agents with a free slot, per channel: a conversation on a channel where nobody
    # has room cannot be offered, so it is not judged (a sweep after one freed slot would
    # otherwise judge the whole team for every waiting conversation).
    room: Counter[Channel] = Counter(
        channel
        for agent in board.values()
        if agent.presence is _ONLINE
        for channel, capacity in agent.capacity.items()
        if agent.active.get(channel, 0) < capacity
    )
    plan: list[Decision] = []
    judgements = Judgements()
    for item in ordered:
        if not room[item.channel]:
            if not any(room.values()):
                break
            continue
        decision = decide_owner(
            item, queues[item.queue], board.values(), now, judgements=judgements
        )
        chosen = decision.agent_id
        if chosen is None:
            continue
        plan.append(decision)
        agent = board[chosen]
        taken = agent.active.get(item.channel, 0) + 1
        board[chosen] = dataclasses.replace(
            agent, active={**agent.active, item.channel: taken}, idle_since=now
        )
        if taken >= agent.capacity.get(item.channel, 0):
            room[item.channel] -= 1
    return plan


def _index_agents(agents: Iterable[AgentSnapshot]) -> dict[str, AgentSnapshot]:
    by_id: dict[str, AgentSnapshot] = {}
    for agent in agents:
        if agent.agent_id in by_id:
            raise ValueError(f"agent {agent.agent_id} is listed twice among the candidates")
        by_id[agent.agent_id] = agent
    return by_id
