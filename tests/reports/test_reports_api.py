"""The reports API on hand-checked figures: local buckets across a daylight saving change,
percentiles, occupancy, CSV, and the 4xx answers."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.channels import Presence
from tests import seed
from tests.reports.conftest import bearer
from tests.reports.desk import Desk


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


async def _served(desk: Desk, agent: uuid.UUID, sender: str, reply: int | None, done: int) -> None:
    """`sender` writes now; `agent` accepts after 10 s, replies after `reply` s (if given)
    and resolves after `done` s."""
    start = desk.clock.now
    cid = await desk.writes(sender)
    assert (await desk.owner(cid))[0] == agent
    desk.clock.advance(10)
    await desk.accepts(agent, cid)
    if reply is not None:
        desk.clock.at(start + timedelta(seconds=reply))
        await desk.replies(agent, cid)
    desk.clock.at(start + timedelta(seconds=done))
    await desk.resolves(agent, cid)


async def _day_around_the_clock_change(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> tuple[uuid.UUID, uuid.UUID]:
    """Europe/Berlin moves from +01:00 to +02:00 at 2026-03-29T01:00Z."""
    ann, ben = await seed.two_sms_agents(sessions, "ann", "ben")
    desk.clock.at(utc(28, 22))
    await desk.goes(ann, Presence.OFFLINE)
    desk.clock.at(utc(28, 22, 30))  # A: 23:30 on the 28th in Berlin
    await _served(desk, ben, "+491510000001", reply=60, done=100)
    desk.clock.at(utc(29, 0, 30))  # E: 01:30 +01:00
    await _served(desk, ben, "+491510000005", reply=None, done=20)
    desk.clock.at(utc(29, 1, 30))  # F: 03:30 +02:00, the next local hour after E's
    await _served(desk, ben, "+491510000006", reply=None, done=20)
    desk.clock.at(utc(29, 9))
    await desk.goes(ann, Presence.ONLINE)
    desk.clock.at(utc(29, 9, 30))
    await desk.goes(ben, Presence.OFFLINE)
    desk.clock.at(utc(29, 10))  # D
    await _served(desk, ann, "+491510000004", reply=300, done=400)
    desk.clock.at(utc(29, 11))
    await desk.goes(ann, Presence.OFFLINE)
    await desk.goes(ben, Presence.ONLINE)
    desk.clock.at(utc(29, 21, 30))  # B: 23:30 +02:00 on the 29th
    await _served(desk, ben, "+491510000002", reply=120, done=200)
    desk.clock.at(utc(29, 22, 30))  # C: 00:30 +02:00 on the 30th
    await _served(desk, ben, "+491510000003", reply=30, done=50)
    return ann, ben


async def _get(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **query: Any
) -> httpx.Response:
    answer = await client.get(path, params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


async def test_day_buckets_are_local_days_and_carry_each_measure(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await _day_around_the_clock_change(desk, sessions)
    headers = await bearer(sessions, Role.SUPERVISOR)
    window = {"from": "2026-03-28T00:00:00+01:00", "to": "2026-03-31T00:00:00+02:00"}

    berlin = (
        await _get(client, headers, "/v1/reports/conversations", tz="Europe/Berlin", **window)
    ).json()
    assert berlin["by"] == "queue"
    rows = {row["bucket_start"]: row for row in berlin["rows"]}
    assert list(rows) == [
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
    ]
    assert {row["name"] for row in berlin["rows"]} == {"default"}
    first, second, third = rows.values()
    assert (first["created"], first["resolved"], first["abandoned"]) == (1, 1, 0)
    assert first["first_response"] == {"count": 1, "p50_seconds": 60.0, "p90_seconds": 60.0}
    assert first["wait_until_offer"] == {"count": 1, "p50_seconds": 0.0, "p90_seconds": 0.0}
    assert first["wait_until_accept"] == {"count": 1, "p50_seconds": 10.0, "p90_seconds": 10.0}
    assert first["handle"] == {"count": 1, "p50_seconds": 90.0, "p90_seconds": 90.0}
    assert first["abandonment_rate"] == 0.0
    # The 29th: E and F (resolved after 20 s, held 10 s, never answered), D and B.
    assert (second["created"], second["resolved"]) == (4, 4)
    # Replies after 120 s (B) and 300 s (D): interpolated percentiles.
    assert second["first_response"] == {"count": 2, "p50_seconds": 210.0, "p90_seconds": 282.0}
    assert second["next_response"] == {"count": 0, "p50_seconds": None, "p90_seconds": None}
    # 20, 20, 200, 400: p50 between 20 and 200; p90 at 2.7 of 3 steps: 200 + 0.7 * 200.
    assert second["resolution"] == {"count": 4, "p50_seconds": 110.0, "p90_seconds": 340.0}
    assert second["handle"] == {"count": 4, "p50_seconds": 100.0, "p90_seconds": 330.0}
    assert (third["created"], third["resolved"]) == (1, 1)
    assert third["first_response"]["p50_seconds"] == 30.0

    # The same window in UTC: C (22:30Z on the 29th) belongs to the 29th.
    in_utc = (await _get(client, headers, "/v1/reports/conversations", tz="UTC", **window)).json()
    assert [(row["bucket_start"], row["created"]) for row in in_utc["rows"]] == [
        ("2026-03-28T00:00:00Z", 1),
        ("2026-03-29T00:00:00Z", 5),
    ]


async def test_hour_buckets_follow_the_clock_change_and_rows_go_by_agent(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    ann, _ = await _day_around_the_clock_change(desk, sessions)
    headers = await bearer(sessions, Role.ADMIN)
    hours = (
        await _get(
            client,
            headers,
            "/v1/reports/conversations",
            tz="Europe/Berlin",
            bucket="hour",
            by="channel",
            **{"from": "2026-03-29T00:00:00+01:00", "to": "2026-03-29T05:00:00+02:00"},
        )
    ).json()
    assert [(r["bucket_start"], r["group"], r["created"]) for r in hours["rows"]] == [
        ("2026-03-29T01:00:00+01:00", "sms", 1),
        ("2026-03-29T03:00:00+02:00", "sms", 1),
    ]

    agents = (
        await _get(
            client,
            headers,
            "/v1/reports/conversations",
            tz="Europe/Berlin",
            by="agent",
            **{"from": "2026-03-29T00:00:00+01:00", "to": "2026-03-30T00:00:00+02:00"},
        )
    ).json()
    by_name = {row["name"]: row for row in agents["rows"]}
    assert by_name["ann"]["group"] == str(ann)
    assert (by_name["ann"]["created"], by_name["ben"]["created"]) == (1, 3)
    assert by_name["ann"]["handle"]["p50_seconds"] == 390.0
    assert by_name["ben"]["first_response"]["p50_seconds"] == 120.0


async def test_occupancy_is_time_holding_work_over_time_online(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await _day_around_the_clock_change(desk, sessions)
    headers = await bearer(sessions, Role.SUPERVISOR)
    report = (
        await _get(
            client,
            headers,
            "/v1/reports/occupancy",
            tz="Europe/Berlin",
            **{"from": "2026-03-29T00:00:00+01:00", "to": "2026-03-30T00:00:00+02:00"},
        )
    ).json()
    rows = {row["handle"]: row for row in report["rows"]}
    # Ann: online 09:00-11:00, holding D from 10:00:10 to 10:06:40.
    assert rows["ann"]["online_seconds"] == 7200.0
    assert rows["ann"]["busy_seconds"] == 390.0
    assert rows["ann"]["occupancy"] == round(390 / 7200, 4)
    # Ben: online from 11:00 to the day's end at 22:00Z (before 09:30 his history is silent),
    # holding B for 190 s.
    assert rows["ben"]["online_seconds"] == 11 * 3600.0
    assert rows["ben"]["busy_seconds"] == 190.0


async def test_csv_by_accept_header_or_format(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await _day_around_the_clock_change(desk, sessions)
    headers = await bearer(sessions, Role.SUPERVISOR)
    window = {"from": "2026-03-28T00:00:00Z", "to": "2026-03-29T00:00:00Z"}
    by_header = await client.get(
        "/v1/reports/conversations", params=window, headers={**headers, "Accept": "text/csv"}
    )
    by_format = await _get(client, headers, "/v1/reports/conversations", format="csv", **window)
    assert by_header.status_code == 200, by_header.text
    assert by_header.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_header.text == by_format.text
    [line] = list(csv.DictReader(io.StringIO(by_header.text)))
    assert line["bucket_start"] == "2026-03-28T00:00:00Z"
    assert line["name"] == "default"
    assert line["created"] == "1"
    assert line["first_response_p50_seconds"] == "60.0"
    assert line["abandonment_rate"] == "0.0"

    empty = await _get(
        client,
        headers,
        "/v1/reports/occupancy",
        format="csv",
        **{"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"},
    )
    assert empty.text.splitlines() == [
        "bucket_start,agent_id,handle,online_seconds,busy_seconds,occupancy"
    ]


async def test_bad_windows_are_422_naming_the_parameter_and_agents_are_refused(
    sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    headers = await bearer(sessions, Role.SUPERVISOR)
    cases = [
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-04-03T00:00:01Z"}, "to"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, "from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "tz": "+01"}, "tz"),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "tz": "Mars/Olympus"},
            "tz",
        ),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "bucket": "month"},
            "bucket",
        ),
        ({"to": "2026-01-02T00:00:00Z"}, "from"),
    ]
    for query, field in cases:
        for path in ("/v1/reports/conversations", "/v1/reports/occupancy"):
            answer = await client.get(path, params=query, headers=headers)
            assert answer.status_code == 422, (query, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert field in answer.json()["detail"], (query, answer.json())

    await seed.add_agent(sessions, "ann", capacity={"sms": 1}, queues=[])
    agent = await bearer(sessions, Role.AGENT, agent="ann")
    refused = await client.get(
        "/v1/reports/conversations",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        headers=agent,
    )
    assert refused.status_code == 403
    # 92 days exactly is allowed.
    fine = await client.get(
        "/v1/reports/conversations",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-04-03T00:00:00Z"},
        headers=headers,
    )
    assert fine.status_code == 200, fine.text
    assert fine.json()["rows"] == []
