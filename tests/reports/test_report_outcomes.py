"""SLA attainment and customer feedback in the conversation report, on hand-checked figures:
clocks met in time, met late, breached by the sweep and still running; CSAT, NPS and CES
answers given by SMS after each resolution."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.feedback.policy import SurveyKind
from router.models import Conversation
from tests import seed
from tests.reports.conftest import bearer
from tests.reports.desk import Desk


def utc(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, second, tzinfo=UTC)


async def _conversation(
    desk: Desk,
    ann: uuid.UUID,
    sender: str,
    *,
    reply: int,
    done: int,
    answer: str,
    again: tuple[int, int] | None = None,
    sweep: int | None = None,
) -> None:
    """`sender` writes now; Ann accepts after 10 s and replies after `reply` s; the customer
    writes again and Ann answers at the seconds in `again`; the SLA sweep runs at `sweep`;
    Ann resolves after `done` s and the customer answers the survey 20 s later."""
    start = desk.clock.now
    cid = await desk.writes(sender)
    assert (await desk.owner(cid))[0] == ann
    desk.clock.advance(10)
    await desk.accepts(ann, cid)
    moments: list[tuple[int, str]] = [(reply, "reply")]
    if again is not None:
        moments += [(again[0], "customer"), (again[1], "reply")]
    if sweep is not None:
        moments.append((sweep, "sweep"))
    for seconds, action in sorted(moments):
        desk.clock.at(start + timedelta(seconds=seconds))
        if action == "reply":
            await desk.replies(ann, cid)
        elif action == "customer":
            await desk.writes(sender, "one more thing")
        else:
            await desk.sweeps_slas()
    desk.clock.at(start + timedelta(seconds=done))
    await desk.resolves(ann, cid)
    desk.clock.advance(20)
    assert await desk.writes(sender, answer) == cid
    async with desk.sessions() as session:
        conversation = await session.get_one(Conversation, cid)
    assert conversation.status == "resolved"  # an answer, not a reopening


async def _a_morning(desk: Desk, sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    default = await seed.queue_id(sessions, "default")
    ann = await seed.add_agent(sessions, "ann", capacity={"sms": 2}, queues=[default])
    desk.clock.at(utc(9))
    await desk.sla_policy(
        targets={"first_response": 60, "next_response": 120, "resolution": 300},
        calendar="always",
    )
    await desk.surveys(SurveyKind.CSAT)
    # A: answered in 30 s, resolved in 100 s: both met.
    desk.clock.at(utc(10))
    await _conversation(desk, ann, "+4915100000001", reply=30, done=100, answer="5 great")
    # B: answered after 90 s (late, the sweep never saw it), next wait answered in 50 s,
    # resolved after 400 s (late).
    desk.clock.at(utc(10, 5))
    await _conversation(
        desk, ann, "+4915100000002", reply=90, again=(100, 150), done=400, answer="3"
    )
    # C: the sweep marks the first response breached at its due time, 10:59:30; the late
    # reply comes in the next hour. Resolved in 200 s: met.
    desk.clock.at(utc(10, 58, 30))
    await _conversation(
        desk, ann, "+4915100000003", reply=100, sweep=70, done=200, answer="4 - slow"
    )
    # D: accepted and never answered: its clocks run, in no bucket.
    desk.clock.at(utc(11, 10))
    running = await desk.writes("+4915100000004")
    desk.clock.advance(10)
    await desk.accepts(ann, running)

    await desk.surveys(SurveyKind.NPS)
    for number, score in enumerate(("10", "6", "8", "9/10")):
        desk.clock.at(utc(11, 20 + 5 * number))
        await _conversation(desk, ann, f"+49151000001{number}", reply=20, done=30, answer=score)
    await desk.surveys(SurveyKind.CES)
    for number, score in enumerate(("2", "7 easy")):
        desk.clock.at(utc(12, 5 * number))
        await _conversation(desk, ann, f"+49151000002{number}", reply=20, done=30, answer=score)
    return ann


async def _report(
    client: httpx.AsyncClient, headers: dict[str, str], **query: str
) -> httpx.Response:
    window = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
    answer = await client.get("/v1/reports/conversations", params=window | query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def _outcomes(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: row[key]
        for key in (
            "sla_first_response",
            "sla_next_response",
            "sla_resolution",
            "csat",
            "nps",
            "ces",
        )
    }


async def test_sla_attainment_and_feedback_per_day_and_hour(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    ann = await _a_morning(desk, sessions)
    headers = await bearer(sessions, Role.SUPERVISOR)

    [day] = (await _report(client, headers)).json()["rows"]
    assert day["name"] == "default"
    assert _outcomes(day) == {
        # Met in time: A, E-H, I-J; missed: B (late), C (breached).
        "sla_first_response": {"met": 7, "breached": 2, "attainment_percent": 77.78},
        "sla_next_response": {"met": 1, "breached": 0, "attainment_percent": 100.0},
        # Missed: B only.
        "sla_resolution": {"met": 8, "breached": 1, "attainment_percent": 88.89},
        # 5, 3, 4: two of three satisfied.
        "csat": {"count": 3, "mean": 4.0, "satisfied_percent": 66.67},
        # 10, 6, 8, 9: 50 % promoters - 25 % detractors.
        "nps": {"count": 4, "promoters": 2, "detractors": 1, "score": 25.0},
        "ces": {"count": 2, "mean": 4.5},
    }

    hours = {
        row["bucket_start"]: row
        for row in (await _report(client, headers, bucket="hour")).json()["rows"]
    }
    assert list(hours) == [
        "2026-03-02T10:00:00Z",
        "2026-03-02T11:00:00Z",
        "2026-03-02T12:00:00Z",
    ]
    ten, eleven, twelve = hours.values()
    # C's first response counts when it was breached (10:59:30), not when it was answered.
    assert ten["sla_first_response"] == {"met": 1, "breached": 2, "attainment_percent": 33.33}
    assert ten["sla_resolution"] == {"met": 1, "breached": 1, "attainment_percent": 50.0}
    assert ten["csat"] == {"count": 2, "mean": 4.0, "satisfied_percent": 50.0}
    assert ten["created"] == 3
    assert eleven["sla_first_response"] == {"met": 4, "breached": 0, "attainment_percent": 100.0}
    assert eleven["sla_resolution"] == {"met": 5, "breached": 0, "attainment_percent": 100.0}
    assert (eleven["csat"]["count"], eleven["nps"]["count"], eleven["ces"]["count"]) == (1, 4, 0)
    assert twelve["ces"] == {"count": 2, "mean": 4.5}
    assert twelve["sla_next_response"] == {"met": 0, "breached": 0, "attainment_percent": None}
    assert twelve["csat"] == {"count": 0, "mean": None, "satisfied_percent": None}
    assert twelve["nps"] == {"count": 0, "promoters": 0, "detractors": 0, "score": None}

    [by_agent] = (await _report(client, headers, by="agent")).json()["rows"]
    assert (by_agent["group"], by_agent["name"]) == (str(ann), "ann")
    assert _outcomes(by_agent) == _outcomes(day)

    # Local buckets: in Asia/Kolkata (+05:30) the whole morning is one afternoon.
    [kolkata] = (
        await _report(
            client, headers, tz="Asia/Kolkata", by="channel", **{"from": "2026-03-01T18:30:00Z"}
        )
    ).json()["rows"]
    assert (kolkata["bucket_start"], kolkata["group"]) == ("2026-03-02T00:00:00+05:30", "sms")
    assert _outcomes(kolkata) == _outcomes(day)


async def test_outcomes_in_csv(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await _a_morning(desk, sessions)
    headers = await bearer(sessions, Role.SUPERVISOR)
    answer = await _report(client, headers, format="csv")
    [line] = list(csv.DictReader(io.StringIO(answer.text)))
    assert {
        key: line[key]
        for key in (
            "sla_first_response_met",
            "sla_first_response_breached",
            "sla_first_response_attainment_percent",
            "sla_next_response_attainment_percent",
            "csat_count",
            "csat_mean",
            "csat_satisfied_percent",
            "nps_promoters",
            "nps_detractors",
            "nps_score",
            "ces_mean",
        )
    } == {
        "sla_first_response_met": "7",
        "sla_first_response_breached": "2",
        "sla_first_response_attainment_percent": "77.78",
        "sla_next_response_attainment_percent": "100.0",
        "csat_count": "3",
        "csat_mean": "4.0",
        "csat_satisfied_percent": "66.67",
        "nps_promoters": "2",
        "nps_detractors": "1",
        "nps_score": "25.0",
        "ces_mean": "4.5",
    }
