"""Draining a queue ordered by SLA due time: the one about to breach is offered first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from router.channels import Channel, Presence
from router.routing.decision import (
    AgentSnapshot,
    QueueSnapshot,
    WaitingConversation,
    WaitingOrder,
    order_waiting,
    plan_assignments,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def waiting(
    cid: str,
    *,
    queue: str = "support",
    priority: int = 0,
    waited: int = 60,
    due_in: int | None = None,
) -> WaitingConversation:
    return WaitingConversation(
        conversation_id=cid,
        channel=Channel.CHAT,
        queue=queue,
        priority=priority,
        waiting_since=NOW - timedelta(minutes=waited),
        sla_due_at=None if due_in is None else NOW + timedelta(minutes=due_in),
    )


def queues(order: WaitingOrder) -> dict[str, QueueSnapshot]:
    return {
        "support": QueueSnapshot(name="support", agent_ids=frozenset({"ada"}), order_waiting=order)
    }


ITEMS = [
    waiting("oldest-no-sla", waited=90),
    waiting("old-due-later", waited=60, due_in=50),
    waiting("new-about-to-breach", waited=5, due_in=2),
    waiting("breached", waited=30, due_in=-10),
    waiting("high-priority", priority=5, waited=1, due_in=600),
]


def test_arrival_order_ignores_due_times() -> None:
    assert [w.conversation_id for w in order_waiting(ITEMS, queues(WaitingOrder.ARRIVAL))] == [
        "high-priority",
        "oldest-no-sla",
        "old-due-later",
        "breached",
        "new-about-to-breach",
    ]


def test_sla_due_order_within_a_priority_then_those_without_a_clock() -> None:
    assert [w.conversation_id for w in order_waiting(ITEMS, queues(WaitingOrder.SLA_DUE))] == [
        "high-priority",
        "breached",
        "new-about-to-breach",
        "old-due-later",
        "oldest-no-sla",
    ]


def test_the_plan_offers_the_one_about_to_breach_first() -> None:
    ada = AgentSnapshot(
        agent_id="ada",
        presence=Presence.ONLINE,
        idle_since=NOW - timedelta(hours=1),
        capacity={Channel.CHAT: 1},
    )
    items = [waiting("old", waited=60, due_in=30), waiting("urgent", waited=5, due_in=1)]
    assert plan_assignments(items, [ada], queues(WaitingOrder.SLA_DUE), NOW) == [("urgent", "ada")]
    assert plan_assignments(items, [ada], queues(WaitingOrder.ARRIVAL), NOW) == [("old", "ada")]
