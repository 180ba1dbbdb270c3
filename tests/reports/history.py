"""The measures worked out again, independently, from the raw history of a conversation
(`conversation_events` and `messages`), and the outcomes from the raw SLA clocks and
feedback answers, for comparing with what the reports say."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import (
    Conversation,
    ConversationEvent,
    ConversationMetrics,
    ConversationSla,
    Feedback,
    Message,
)

LIVE_WRITING = {"chat", "whatsapp", "messenger", "instagram", "sms"}


@dataclass
class Worked:
    """One conversation's measures, from its history alone."""

    channel: str
    queue: str | None
    created_at: datetime
    first_agent: str | None = None
    offered_after: float | None = None
    accepted_after: float | None = None
    transfers: int = 0
    reopens: int = 0
    abandoned_at: datetime | None = None
    # (responded at, seconds, first, replying agent)
    responses: list[tuple[datetime, float, bool, str]] = field(default_factory=list)
    # (resolved at, resolution seconds, handle seconds or None)
    resolutions: list[tuple[datetime, float, float | None]] = field(default_factory=list)


def _took(event: ConversationEvent) -> bool:
    return event.kind == "accepted" or (
        event.kind == "reassigned" and event.details.get("offer_state") == "accepted"
    )


async def work_out(sessions: async_sessionmaker[AsyncSession]) -> list[Worked]:
    """Every conversation's measures, replaying its events and messages in time order."""
    async with sessions() as session:
        conversations = (await session.scalars(select(Conversation))).all()
        events = (
            await session.scalars(select(ConversationEvent).order_by(ConversationEvent.id))
        ).all()
        messages = (await session.scalars(select(Message))).all()
    by_events: dict[uuid.UUID, list[ConversationEvent]] = defaultdict(list)
    for event in events:
        by_events[event.conversation_id].append(event)
    by_messages: dict[uuid.UUID, list[Message]] = defaultdict(list)
    for message in messages:
        if message.direction == "inbound" or (
            message.direction == "outbound" and message.author_agent_id is not None
        ):
            by_messages[message.conversation_id].append(message)
    return [
        _one(conversation, by_events[conversation.id], by_messages[conversation.id])
        for conversation in conversations
    ]


def _one(
    conversation: Conversation, events: list[ConversationEvent], messages: list[Message]
) -> Worked:
    [created] = [event for event in events if event.kind == "created"]
    start = created.occurred_at
    first_queue = next(event.queue_id for event in events if event.queue_id is not None)
    worked = Worked(conversation.channel, str(first_queue), start)
    # One time line: messages before events at the same instant (a message reopens).
    timeline: list[tuple[datetime, int, object]] = [
        (message.received_at, 0 if message.direction == "inbound" else 1, message)
        for message in messages
    ] + [(event.occurred_at, 2, event) for event in events]
    timeline.sort(key=lambda item: (item[0], item[1]))
    awaiting: datetime | None = None
    took_at: datetime | None = None
    replied = False
    any_response = False
    for moment, _, item in timeline:
        if isinstance(item, Message):
            if item.direction == "inbound":
                awaiting = awaiting or moment
                continue
            replied = True
            if awaiting is not None:
                seconds = (moment - awaiting).total_seconds()
                worked.responses.append(
                    (moment, seconds, not any_response, str(item.author_agent_id))
                )
                any_response = True
                awaiting = None
            continue
        assert isinstance(item, ConversationEvent)
        if item.kind == "offered" and worked.offered_after is None:
            worked.offered_after = (moment - start).total_seconds()
        if _took(item):
            if worked.accepted_after is None:
                worked.accepted_after = (moment - start).total_seconds()
                worked.first_agent = str(item.agent_id)
            took_at = took_at or moment
        if item.kind == "transferred":
            worked.transfers += 1
        if item.kind == "reopened":
            worked.reopens += 1
        if item.kind == "resolved":
            handle = (moment - took_at).total_seconds() if took_at else None
            worked.resolutions.append((moment, (moment - start).total_seconds(), handle))
            if took_at is None and not replied and conversation.channel in LIVE_WRITING:
                worked.abandoned_at = worked.abandoned_at or moment
            took_at, replied, awaiting = None, False, None
    return worked


def percentile(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear between the two closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def day_of(moment: datetime, zone: str) -> str:
    """The local day's start as the report writes it."""
    local = moment.astimezone(ZoneInfo(zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Midnight keeps the offset it has on that day, not the moment's.
    return midnight.replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone)).isoformat()


@dataclass(frozen=True)
class Outcome:
    """A settled SLA clock or a feedback answer, read from its raw row: when it counts,
    what it is about, and whom."""

    moment: datetime
    measure: str  # sla_first_response ... or csat, ces, nps
    agent: str | None
    score: int = 0
    met: bool = False


async def outcomes_of(sessions: async_sessionmaker[AsyncSession]) -> list[Outcome]:
    """Every settled SLA clock (at the first of met and breached) and every answer."""
    async with sessions() as session:
        clocks = (await session.scalars(select(ConversationSla))).all()
        answers = (await session.scalars(select(Feedback))).all()
        rows = await session.execute(
            select(ConversationMetrics.conversation_id, ConversationMetrics.agent_id)
        )
        first_agents = {conversation: agent for conversation, agent in rows}
    found: list[Outcome] = []
    for clock in clocks:
        ends = [moment for moment in (clock.met_at, clock.breached_at) if moment is not None]
        if not ends:
            continue  # still running
        met = clock.met_at is not None and (clock.due_at is None or clock.met_at <= clock.due_at)
        agent = first_agents.get(clock.conversation_id)
        found.append(Outcome(min(ends), f"sla_{clock.target}", agent and str(agent), met=met))
    for answer in answers:
        agent_id = answer.agent_id and str(answer.agent_id)
        found.append(Outcome(answer.received_at, answer.kind, agent_id, score=answer.score))
    return found


def summarised(outcomes: list[Outcome]) -> dict[str, dict[str, object]]:
    """The report's outcome columns for these outcomes, worked out from scratch."""

    def percent(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 2) if whole else None

    def mean(scores: list[int]) -> float | None:
        return round(sum(scores) / len(scores), 3) if scores else None

    columns: dict[str, dict[str, object]] = {}
    for target in ("first_response", "next_response", "resolution"):
        settled = [one for one in outcomes if one.measure == f"sla_{target}"]
        met = sum(one.met for one in settled)
        columns[f"sla_{target}"] = {
            "met": met,
            "breached": len(settled) - met,
            "attainment_percent": percent(met, len(settled)),
        }
    scores = {
        kind: [one.score for one in outcomes if one.measure == kind]
        for kind in ("csat", "ces", "nps")
    }
    csat, ces, nps = scores["csat"], scores["ces"], scores["nps"]
    promoters = sum(1 for score in nps if score >= 9)
    detractors = sum(1 for score in nps if score <= 6)
    columns["csat"] = {
        "count": len(csat),
        "mean": mean(csat),
        "satisfied_percent": percent(sum(1 for score in csat if score >= 4), len(csat)),
    }
    columns["ces"] = {"count": len(ces), "mean": mean(ces)}
    columns["nps"] = {
        "count": len(nps),
        "promoters": promoters,
        "detractors": detractors,
        "score": round(100 * (promoters - detractors) / len(nps), 2) if nps else None,
    }
    return columns
