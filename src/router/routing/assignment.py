"""Applying routing decisions to conversations: pick the queue, offer to an agent, take back.

The pure functions decide; these apply what they decided to loaded (and locked) rows and
record every change in the journal, with the reasons the decision gave.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from router.channels import Channel
from router.conversations.history import Change, Journal
from router.models import OfferState
from router.routing.board import DEFAULT_QUEUE, Board
from router.routing.continuity import previous_owner_audit
from router.routing.decision import (
    ConversationToRoute,
    Outcome,
    decide_owner,
    resolve_queue_for_hours,
)
from router.routing.exclusions import Exclusion, read_exclusions, with_exclusion
from router.routing.explanation import OfferPath, Placement, explain_offer
from router.routing.hours import is_open
from router.routing.policy import RoutingFacts, match_policy
from router.routing.records import Routable


def choose_queue(
    board: Board, conversation: Routable, facts: RoutingFacts, journal: Journal
) -> Placement:
    """Send the conversation to the queue the policy picks (or its open overflow).

    Returns what placed it there, for the explanation of the offer that follows.
    """

    def queue_open(name: str) -> bool:
        queue = board.queues.get(name)
        return queue is not None and is_open(queue.hours, board.now)

    match = match_policy(board.policy, facts, queue_open)
    wanted = board.queues.get(match.queue) or board.queues[DEFAULT_QUEUE]
    target = resolve_queue_for_hours(wanted, board.queues, board.now)
    conversation.queue_id = board.queue_ids[target.name]
    conversation.priority = match.priority
    details: dict[str, object] = {
        "policy_version": match.policy_version,
        "rule": match.rule,
        "queue": target.name,
        "priority": match.priority,
    }
    reason = f"policy v{match.policy_version}: rule {match.rule}"
    if target.name != wanted.name:
        details["overflow_from"] = wanted.name
        reason += f"; {wanted.name} closed, overflow to {target.name}"
    journal.record(
        conversation.id, Change.QUEUED, reason, queue_id=conversation.queue_id, details=details
    )
    return Placement(
        rule=match.rule,
        policy_version=match.policy_version,
        overflow_from=wanted.name if target.name != wanted.name else None,
    )


def offer(
    board: Board,
    conversation: Routable,
    journal: Journal,
    *,
    offer_timeout: timedelta,
    path: OfferPath,
    placement: Placement,
    previous_owner: uuid.UUID | None = None,
    previous_owner_of: uuid.UUID | None = None,
    record_wait: bool = True,
) -> bool:
    """Offer the conversation to the best eligible agent; leave it with its queue if none.

    Returns whether an agent got the offer. The agent's capacity is counted at once: an
    offer holds a slot until it is accepted, declined or times out. The offer's history
    row explains it (`explain_offer`): `path` says what made routing offer it, `placement`
    what put it in its queue. `previous_owner` is offered first when eligible;
    `previous_owner_of` is the conversation they owned when it is another of the customer's.
    The history row says whether they got it, or why not.
    """
    assert conversation.queue_id is not None
    queue = board.queues[board.queue_name(conversation.queue_id)]
    decision = decide_owner(
        ConversationToRoute(
            conversation_id=str(conversation.id),
            channel=Channel(conversation.channel),
            previous_owner=str(previous_owner) if previous_owner else None,
            excluded=read_exclusions(conversation.excluded_agents),
        ),
        queue,
        board.agents.values(),
        board.now,
        judgements=board.judgements,
    )
    # Whether the customer's last owner got it, or why not.
    sticky = (
        {
            "previous_owner": previous_owner_audit(
                decision, previous_owner, previous_owner_of or conversation.id
            )
        }
        if previous_owner is not None
        else {}
    )
    if decision.outcome is not Outcome.OFFER or decision.agent_id is None:
        if record_wait:
            journal.record(
                conversation.id,
                Change.QUEUED,
                f"waiting in {queue.name}: {decision.reason.value}",
                queue_id=conversation.queue_id,
                details=decision.audit() | sticky,
            )
        return False
    give_offer(
        board,
        conversation,
        decision.agent_id,
        journal,
        reason=decision.reason.value,
        details=explain_offer(decision, placement, path) | sticky,
        offer_timeout=offer_timeout,
    )
    return True


def give_offer(
    board: Board,
    conversation: Routable,
    agent: str,
    journal: Journal,
    *,
    reason: str,
    details: dict[str, object],
    offer_timeout: timedelta,
) -> None:
    """Make the offer: the agent owns the conversation (offered) and one slot is taken.

    `details` is the offer's explanation, from `explain_offer`.
    """
    board.take(agent, Channel(conversation.channel))
    agent_id = uuid.UUID(agent)
    conversation.agent_id = agent_id
    conversation.offer_state = OfferState.OFFERED.value
    conversation.offered_at = board.now
    conversation.offer_expires_at = board.now + offer_timeout
    journal.record(
        conversation.id,
        Change.OFFERED,
        reason,
        agent_id=agent_id,
        queue_id=conversation.queue_id,
        details=details,
    )


def withdraw_unclaimed(conversation: Routable, journal: Journal) -> None:
    """Undo an offer whose slot could not be claimed, as if it was never made.

    Its `offered` change is not yet written: it is dropped from the journal, so the history
    keeps no trace of it. The conversation is left waiting with its queue.
    """
    journal.discard(conversation.id, Change.OFFERED)
    conversation.agent_id = None
    conversation.offer_state = None
    conversation.offered_at = None
    conversation.offer_expires_at = None


def exclusion(reason: str, now: datetime, window: timedelta) -> Exclusion:
    """An exclusion that begins `now` and lasts `window`."""
    return Exclusion(reason, now + window)


def take_back(
    board: Board | None,
    conversation: Routable,
    journal: Journal,
    change: Change,
    reason: str,
    *,
    exclude: Exclusion | None = None,
    actor_id: str | None = None,
) -> uuid.UUID:
    """Return an offered conversation to its queue and free the agent's slot.

    `exclude` keeps the agent out of its offers until the exclusion ends (they declined or
    let it lapse); the history row says why and until when. The caller adjusts the
    capacity row when no board (with its locks) is at hand.
    """
    agent_id = conversation.agent_id
    assert agent_id is not None
    if board is not None and str(agent_id) in board.agents:
        board.release(str(agent_id), Channel(conversation.channel))
    details: dict[str, object] | None = None
    if exclude is not None:
        conversation.excluded_agents = with_exclusion(
            conversation.excluded_agents, str(agent_id), exclude, journal.now
        )
        details = {"excluded": {str(agent_id): exclude.stored()}}
    conversation.agent_id = None
    conversation.offer_state = None
    conversation.offered_at = None
    conversation.offer_expires_at = None
    journal.record(
        conversation.id,
        change,
        reason,
        agent_id=agent_id,
        queue_id=conversation.queue_id,
        actor_id=actor_id,
        details=details,
    )
    return agent_id
