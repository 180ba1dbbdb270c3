"""A day of seeded traffic through the real services, then the reports checked against figures
worked out independently from the raw history (events and messages), not the measure tables,
and against SLA attainment and feedback worked out from the raw clocks and answers.

The day is 2026-10-25 in Europe/Berlin: 25 hours long, 02:00-03:00 happens twice.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.channels import Presence
from router.errors import Conflict
from router.feedback.policy import SurveyKind
from router.models import Conversation, FeedbackSurvey
from router.reports import refresher
from router.reports.histogram import RELATIVE_ERROR
from tests import seed
from tests.reports.conftest import bearer
from tests.reports.desk import Desk
from tests.reports.history import (
    Outcome,
    Worked,
    day_of,
    outcomes_of,
    percentile,
    summarised,
    work_out,
)

ZONE = "Europe/Berlin"
# Local midnight starting the 25-hour day.
DAY = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)


class Day:
    """Customers and agents acting on one time line, each action at its moment."""

    def __init__(self, desk: Desk, agents: dict[str, uuid.UUID], seed_value: int) -> None:
        self.desk = desk
        self.agents = agents
        self.random = random.Random(seed_value)
        # The customers' survey answers draw from their own sequence: the rest of the day
        # stays as it was without surveys.
        self.answers = random.Random(seed_value + 1)
        self.queue: list[tuple[datetime, int, Callable[[], Awaitable[None]]]] = []
        self.order = itertools.count()
        self.accepting: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self.epochs: dict[uuid.UUID, int] = defaultdict(int)
        self.reopened: set[uuid.UUID] = set()
        self.transferred: set[uuid.UUID] = set()
        self.senders: dict[uuid.UUID, str] = {}

    def at(self, moment: datetime, action: Callable[[], Awaitable[None]]) -> None:
        heapq.heappush(self.queue, (moment, next(self.order), action))

    def later(self, low: int, high: int, action: Callable[[], Awaitable[None]]) -> None:
        self.at(self.desk.clock.now + timedelta(seconds=self.random.randint(low, high)), action)

    async def run(self) -> None:
        while self.queue:
            moment, _, action = heapq.heappop(self.queue)
            self.desk.clock.at(max(moment, self.desk.clock.now))
            await action()
            await self.desk.sweeps()
            await self.desk.sweeps_slas()
            await self._answer_offers()

    async def _open(self) -> list[Conversation]:
        async with self.desk.sessions() as session:
            found = await session.scalars(select(Conversation).where(Conversation.status == "open"))
            return list(found.all())

    async def _answer_offers(self) -> None:
        for conversation in await self._open():
            agent = conversation.agent_id
            if agent is None or conversation.offer_state != "offered":
                continue
            if (conversation.id, agent) in self.accepting:
                continue
            self.accepting.add((conversation.id, agent))
            self.later(5, 90, self._accept(conversation.id, agent))

    def _accept(self, cid: uuid.UUID, agent: uuid.UUID) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            self.accepting.discard((cid, agent))
            if await self.desk.owner(cid) != (agent, "offered"):
                return
            await self.desk.accepts(agent, cid)
            self.epochs[cid] += 1
            self._work(cid, agent, self.epochs[cid])

        return act

    def _still(self, cid: uuid.UUID, agent: uuid.UUID, epoch: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return self.epochs[cid] == epoch and await self.desk.owner(cid) == (agent, "accepted")

        return check

    def _work(self, cid: uuid.UUID, agent: uuid.UUID, epoch: int) -> None:
        still = self._still(cid, agent, epoch)
        sender = self.senders[cid]

        async def customer_again() -> None:
            if await still():
                await self.desk.writes(sender, "anything new?")

        async def reply() -> None:
            if await still():
                await self.desk.replies(agent, cid)

        async def transfer() -> None:
            if not await still():
                return
            others = [other for other in self.agents.values() if other != agent]
            target = self.random.choice(others)
            try:
                await self.desk.transfers(agent, cid, target)
            except Conflict:  # the target is offline or full: keep working it
                self.later(30, 120, resolve)
                return
            self.transferred.add(cid)

        async def resolve() -> None:
            if not await still():
                return
            await self.desk.resolves(agent, cid)
            if self.answers.random() < 0.7:
                self.later(30, 400, self._answers(cid, sender))
            if cid not in self.reopened and self.random.random() < 0.3:
                self.reopened.add(cid)
                self.later(600, 3600, self._writes(sender))

        if self.random.random() < 0.4:
            self.later(5, 120, customer_again)
        self.later(20, 400, reply)
        if self.random.random() < 0.3:
            self.later(180, 300, reply)
        if cid not in self.transferred and self.random.random() < 0.2:
            self.later(420, 500, transfer)
        else:
            self.later(420, 900, resolve)

    def _answers(self, cid: uuid.UUID, sender: str) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            async with self.desk.sessions() as session:
                kind = await session.scalar(
                    select(FeedbackSurvey.kind)
                    .where(FeedbackSurvey.conversation_id == cid)
                    .order_by(FeedbackSurvey.resolution.desc())
                    .limit(1)
                )
            if kind is not None:
                low, high = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}[kind]
                await self.desk.writes(sender, f"{self.answers.randint(low, high)} thanks")

        return act

    def surveys(self, moment: datetime, kind: SurveyKind) -> None:
        async def act() -> None:
            await self.desk.surveys(kind)

        self.at(moment, act)

    def _writes(self, sender: str) -> Callable[[], Awaitable[None]]:
        async def act() -> None:
            cid = await self.desk.writes(sender)
            self.senders[cid] = sender

        return act

    def arrival(self, moment: datetime, sender: str, patience: int) -> None:
        async def arrive() -> None:
            cid = await self.desk.writes(sender, "hello, I need help")
            self.senders[cid] = sender
            self.later(patience, patience, give_up(cid))

        def give_up(cid: uuid.UUID) -> Callable[[], Awaitable[None]]:
            async def act() -> None:
                _, state = await self.desk.owner(cid)
                async with self.desk.sessions() as session:
                    conversation = await session.get(Conversation, cid)
                assert conversation is not None
                if conversation.status == "open" and state != "accepted":
                    await self.desk.resolves(None, cid)  # the customer left; closed

            return act

        self.at(moment, arrive)

    def presence(self, moment: datetime, agent: str, presence: Presence) -> None:
        async def act() -> None:
            await self.desk.goes(self.agents[agent], presence)

        self.at(moment, act)


async def _traffic(desk: Desk, sessions: async_sessionmaker[AsyncSession]) -> None:
    default = await seed.queue_id(sessions, "default")
    agents = {
        name: await seed.add_agent(
            sessions, name, capacity={"sms": 2}, queues=[default], presence="offline"
        )
        for name in ("ann", "ben", "cat")
    }
    day = Day(desk, agents, seed_value=20261025)
    desk.clock.at(DAY)
    await desk.sla_policy(
        targets={"first_response": 120, "next_response": 180, "resolution": 1200},
        calendar="always",
    )
    day.surveys(DAY, SurveyKind.CSAT)
    day.surveys(DAY + timedelta(hours=9), SurveyKind.NPS)
    day.surveys(DAY + timedelta(hours=15), SurveyKind.CES)
    rng = random.Random(7)
    for name, (on, off) in {"ann": (7, 15), "ben": (9, 19), "cat": (12, 21)}.items():
        day.presence(DAY + timedelta(hours=on, minutes=1), name, Presence.ONLINE)
        day.presence(DAY + timedelta(hours=off, minutes=1), name, Presence.OFFLINE)
    arrivals = [timedelta(hours=2, minutes=30), timedelta(hours=3, minutes=30)] + [
        timedelta(seconds=rng.randint(0, 20 * 3600)) for _ in range(38)
    ]
    for number, offset in enumerate(sorted(arrivals)):
        day.arrival(DAY + offset, f"+4915100{number:05d}", patience=rng.randint(600, 3 * 3600))
    await day.run()


def _expected_by_day(worked: list[Worked], outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    settled: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        settled[day_of(outcome.moment, ZONE)].append(outcome)
        facts[day_of(outcome.moment, ZONE)]  # a bucket with outcomes only is a row too
    for one in worked:
        created = facts[day_of(one.created_at, ZONE)]
        created["created"].append(1)
        created["transfers"].append(one.transfers)
        created["reopens"].append(one.reopens)
        created["abandoned_of_created"].append(1 if one.abandoned_at else 0)
        if one.offered_after is not None:
            created["wait_until_offer"].append(one.offered_after)
        if one.accepted_after is not None:
            created["wait_until_accept"].append(one.accepted_after)
        if one.abandoned_at is not None:
            facts[day_of(one.abandoned_at, ZONE)]["abandoned"].append(1)
        for moment, seconds, first, _ in one.responses:
            facts[day_of(moment, ZONE)]["first_response" if first else "next_response"].append(
                seconds
            )
        for moment, seconds, handle in one.resolutions:
            facts[day_of(moment, ZONE)]["resolution"].append(seconds)
            if handle is not None:
                facts[day_of(moment, ZONE)]["handle"].append(handle)
    rows: dict[str, dict[str, Any]] = {}
    for bucket, measures in facts.items():
        created = len(measures["created"])
        row: dict[str, Any] = {
            "created": created,
            "resolved": len(measures["resolution"]),
            "abandoned": len(measures["abandoned"]),
            "abandonment_rate": sum(measures["abandoned_of_created"]) / created
            if created
            else None,
            "transfers": int(sum(measures["transfers"])),
            "reopens": int(sum(measures["reopens"])),
        }
        for name in (
            "wait_until_offer",
            "wait_until_accept",
            "first_response",
            "next_response",
            "handle",
            "resolution",
        ):
            values = measures[name]
            row[name] = {
                "count": len(values),
                "p50_seconds": pytest.approx(percentile(values, 0.5), abs=0.001)
                if values
                else None,
                "p90_seconds": pytest.approx(percentile(values, 0.9), abs=0.001)
                if values
                else None,
            }
        row.update(summarised(settled[bucket]))
        rows[bucket] = row
    return rows


async def test_reports_of_a_day_agree_with_the_raw_history(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await _traffic(desk, sessions)
    worked = await work_out(sessions)
    outcomes = await outcomes_of(sessions)
    # The day exercised what it should.
    assert len(worked) >= 40
    assert sum(one.transfers for one in worked) >= 2
    assert sum(one.reopens for one in worked) >= 2
    assert sum(1 for one in worked if one.abandoned_at) >= 2
    assert sum(len(one.responses) for one in worked) >= 20
    measures = [one.measure for one in outcomes]
    assert all(measures.count(kind) >= 3 for kind in ("csat", "ces", "nps")), measures
    for target in ("first_response", "next_response", "resolution"):
        clocks = [one for one in outcomes if one.measure == f"sla_{target}"]
        assert any(one.met for one in clocks), target
        assert not all(one.met for one in clocks), target

    headers = await bearer(sessions, Role.SUPERVISOR)
    window = {"from": "2026-10-25T00:00:00+02:00", "to": "2026-10-27T00:00:00+01:00", "tz": ZONE}
    answer = await client.get("/v1/reports/conversations", params=window, headers=headers)
    assert answer.status_code == 200, answer.text
    reported = {
        row["bucket_start"]: {
            key: value for key, value in row.items() if key not in {"bucket_start", "group", "name"}
        }
        for row in answer.json()["rows"]
    }
    assert reported == _expected_by_day(worked, outcomes)

    # Hour buckets: the hour from 02:00 is there twice, once per offset.
    hourly = await client.get(
        "/v1/reports/conversations", params={**window, "bucket": "hour"}, headers=headers
    )
    created_per_hour: dict[str, int] = defaultdict(int)
    for one in worked:
        local = one.created_at.astimezone(ZoneInfo(ZONE))
        created_per_hour[local.replace(minute=0, second=0, microsecond=0).isoformat()] += 1
    assert {
        row["bucket_start"]: row["created"] for row in hourly.json()["rows"] if row["created"]
    } == dict(created_per_hour)
    assert "2026-10-25T02:00:00+02:00" in created_per_hour
    assert "2026-10-25T02:00:00+01:00" in created_per_hour

    # By agent: who took each conversation first, and who answered.
    by_agent = await client.get(
        "/v1/reports/conversations", params={**window, "by": "agent"}, headers=headers
    )
    responses: dict[str, list[float]] = defaultdict(list)
    for one in worked:
        for _, seconds, _, agent in one.responses:
            responses[agent].append(seconds)
    reported_responses: dict[str, int] = defaultdict(int)
    for row in by_agent.json()["rows"]:
        if row["group"] is not None:
            reported_responses[row["group"]] += (
                row["first_response"]["count"] + row["next_response"]["count"]
            )
    assert dict(reported_responses) == {agent: len(values) for agent, values in responses.items()}

    # By agent and day: each agent's answers and settled clocks, from the raw rows.
    by_group: dict[tuple[str, str | None], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_group[(day_of(outcome.moment, ZONE), outcome.agent)].append(outcome)
    columns = list(summarised([]))
    reported_outcomes = {
        (row["bucket_start"], row["group"]): {key: row[key] for key in columns}
        for row in by_agent.json()["rows"]
    }
    assert set(by_group) <= set(reported_outcomes)
    assert reported_outcomes == {
        key: summarised(by_group.get(key, [])) for key in reported_outcomes
    }

    # Kept report days: once the refresher has kept the view's days, the same requests read
    # them and answer the same; a week is the sum of its days, its percentiles read from the
    # days' histograms.
    assert await _kept(sessions) == 0
    assert await refresher.refresh(sessions, KEPT_BY, timedelta(days=30), 60.0) >= 2
    assert await _kept(sessions) >= 2
    again = await client.get("/v1/reports/conversations", params=window, headers=headers)
    assert again.json()["rows"] == answer.json()["rows"]
    again_by_agent = await client.get(
        "/v1/reports/conversations", params={**window, "by": "agent"}, headers=headers
    )
    assert again_by_agent.json()["rows"] == by_agent.json()["rows"]
    weekly = await client.get(
        "/v1/reports/conversations", params={**window, "bucket": "week"}, headers=headers
    )
    expected = _expected_by_day(worked, outcomes)
    # The 25th is a Sunday: a day of the window is a week of its own.
    weeks = {_monday_of(day): expected[day] for day in expected}
    assert "2026-10-19T00:00:00+02:00" in weeks
    assert [row["bucket_start"] for row in weekly.json()["rows"]] == sorted(weeks)
    for row in weekly.json()["rows"]:
        _assert_within_the_bins(row, weeks[row["bucket_start"]])

    # A change to a kept day shows at once: a customer of the first day writes again two
    # days later and reopens it, a reopen counted on the day it was created. The day is
    # read from the measure tables until the refresher has kept it anew.
    sender = await _a_resolved_sender(sessions, DAY + timedelta(days=1))
    desk.clock.at(max(desk.clock.now, datetime(2026, 10, 27, 10, tzinfo=UTC)))
    await desk.writes(sender, "one more thing")
    first_day = sorted(expected)[0]
    late = await client.get("/v1/reports/conversations", params=window, headers=headers)
    assert late.status_code == 200, late.text
    assert late.json()["rows"][0]["bucket_start"] == first_day
    assert late.json()["rows"][0]["reopens"] == expected[first_day]["reopens"] + 1
    assert await refresher.refresh(sessions, KEPT_BY, timedelta(days=30), 60.0) >= 1
    kept_anew = await client.get("/v1/reports/conversations", params=window, headers=headers)
    assert kept_anew.json()["rows"] == late.json()["rows"]


async def _a_resolved_sender(sessions: async_sessionmaker[AsyncSession], before: datetime) -> str:
    """The number of a customer whose conversation, created before `before`, is resolved."""
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT i.value FROM conversations c"
                " JOIN customer_identities i ON i.customer_id = c.customer_id"
                " WHERE c.status = 'resolved' AND c.channel = 'sms' AND c.created_at < :before"
                " ORDER BY c.created_at LIMIT 1"
            ),
            {"before": before},
        )
    assert found is not None
    return str(found)


# The refresher's clock: after the two days, so both have ended.
KEPT_BY = datetime(2026, 10, 28, tzinfo=UTC)


async def _kept(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM report_days WHERE tz = :tz AND by = 'queue'"),
            {"tz": ZONE},
        )
    return int(found or 0)


def _monday_of(day: str) -> str:
    local = datetime.fromisoformat(day).astimezone(ZoneInfo(ZONE))
    monday = (local - timedelta(days=local.weekday())).replace(tzinfo=None)
    return monday.replace(tzinfo=ZoneInfo(ZONE)).isoformat()


def _assert_within_the_bins(row: dict[str, Any], day: dict[str, Any]) -> None:
    """Counts as the day's; each percentile within the histograms' relative error."""
    for key, value in day.items():
        if isinstance(value, dict) and "p50_seconds" in value:
            assert row[key]["count"] == value["count"], key
            for fraction in ("p50_seconds", "p90_seconds"):
                # The expected figures are pytest.approx of the exact ones.
                exact, found = (
                    getattr(value[fraction], "expected", value[fraction]),
                    row[key][fraction],
                )
                if exact is None:
                    assert found is None, key
                else:
                    assert abs(found - exact) <= RELATIVE_ERROR * exact + 0.002, (key, fraction)
        else:
            assert row[key] == value, key
