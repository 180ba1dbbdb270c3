"""Report days: each change notes the hours it is reported under, the refresher keeps the
ended days of the views asked for (one process at a time), and a kept day answers as the
measure tables do, in a zone whose days start on the half hour too."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.db import transaction
from router.feedback.policy import SurveyKind
from router.reports import refresher
from router.routing.runner import sweep_forever
from router.settings import Settings
from tests import seed
from tests.adapters.call_steps import until
from tests.reports.conftest import bearer
from tests.reports.desk import Desk


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


async def _noted(sessions: async_sessionmaker[AsyncSession]) -> set[datetime]:
    """The hours noted since the last call (consumed, as the refresher does)."""
    async with transaction(sessions) as session:
        rows = await session.execute(text("DELETE FROM report_changes RETURNING hour"))
        return {row[0] for row in rows}


async def test_each_change_notes_the_hours_it_is_reported_under(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    default = await seed.queue_id(sessions, "default")
    ann = await seed.add_agent(sessions, "ann", capacity={"sms": 2}, queues=[default])
    desk.clock.at(utc(1, 9, 5))
    await desk.sla_policy(
        targets={"first_response": 600, "next_response": 600, "resolution": 7200},
        calendar="always",
    )
    await desk.surveys(SurveyKind.CSAT)
    await _noted(sessions)

    desk.clock.at(utc(1, 9, 10))
    cid = await desk.writes("+4915100000001")
    # A new conversation counts in the hour it was created; its clocks run, in no hour.
    assert await _noted(sessions) == {utc(1, 9)}

    desk.clock.at(utc(1, 10, 20))
    await desk.accepts(ann, cid)
    # Taken: its wait until accept and its agent count where it was created.
    assert await _noted(sessions) == {utc(1, 9)}

    desk.clock.at(utc(1, 11, 30))
    await desk.replies(ann, cid)
    # The response, and the first response clock met (late: due at 09:20) in the hour.
    assert await _noted(sessions) == {utc(1, 11)}

    desk.clock.at(utc(1, 12, 40))
    await desk.resolves(ann, cid)
    # The resolution, its clock settled, and the next response clock (met at the reply, and
    # dropped unmet ones change nothing reported).
    assert await _noted(sessions) == {utc(1, 12)}

    desk.clock.at(utc(1, 13, 50))
    await desk.writes("+4915100000001", "5")
    # The survey answer counts when it was received, and reopens nothing.
    assert utc(1, 13) in await _noted(sessions)

    desk.clock.at(utc(2, 8, 5))
    await desk.writes("+4915100000001", "it broke again")
    # A reopen counts on the day the conversation was created.
    assert utc(1, 9) in await _noted(sessions)


async def _view(sessions: async_sessionmaker[AsyncSession], tz: str, asked: datetime) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            text("INSERT INTO report_views (tz, by, requested_at) VALUES (:tz, 'queue', :at)"),
            {"tz": tz, "at": asked},
        )


async def _kept(sessions: async_sessionmaker[AsyncSession], tz: str) -> dict[datetime, datetime]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT day_start, computed_at FROM report_days WHERE tz = :tz ORDER BY 1"),
            {"tz": tz},
        )
        return {row[0]: row[1] for row in rows}


async def test_the_refresher_keeps_ended_days_and_forgets_touched_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = utc(5, 10)
    await _view(sessions, "Asia/Kolkata", now)
    assert await refresher.refresh(sessions, now, timedelta(days=3), 60.0) == 2
    # Local days of +05:30 that ended by 10:00Z on the 5th and began within three days.
    kept = await _kept(sessions, "Asia/Kolkata")
    assert list(kept) == [utc(2, 18, 30), utc(3, 18, 30)]
    assert set(kept.values()) == {now}

    # A change noted at 20:00Z on the 3rd touches the day from 18:30Z: it is forgotten and
    # computed again; the other day stays as it was.
    async with transaction(sessions) as session:
        await session.execute(
            text("INSERT INTO report_changes (hour) VALUES (:h)"), {"h": utc(3, 20)}
        )
    later = utc(5, 10, 1)
    assert await refresher.refresh(sessions, later, timedelta(days=3), 60.0) == 1
    assert await _kept(sessions, "Asia/Kolkata") == {utc(2, 18, 30): now, utc(3, 18, 30): later}

    # Nothing to do, nothing computed.
    assert await refresher.refresh(sessions, later, timedelta(days=3), 60.0) == 0


async def test_one_refresher_at_a_time(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utc(5, 10)
    await _view(sessions, "UTC", now)
    async with transaction(sessions) as other:
        await other.execute(text("SELECT pg_advisory_xact_lock(7260003)"))
        # Another process is refreshing: this one neither consumes nor keeps anything.
        async with transaction(sessions) as session:
            await session.execute(text("INSERT INTO report_changes (hour) VALUES (:h)"), {"h": now})
        assert await refresher.refresh(sessions, now, timedelta(days=3), 60.0) == 0
        assert await _kept(sessions, "UTC") == {}
    # The 3rd and the 4th: the days that began within three days and have ended.
    assert await refresher.refresh(sessions, now, timedelta(days=3), 60.0) == 2
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM report_changes")) == 0


async def test_views_nobody_asked_for_are_forgotten(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = utc(20, 10)
    await _view(sessions, "UTC", now - timedelta(days=2))
    await refresher.refresh(sessions, now - timedelta(days=1), timedelta(days=3), 60.0)
    assert list(await _kept(sessions, "UTC")) == [utc(17, 0), utc(18, 0)]
    # Thirty days on, unasked: the view and its days go; days past `keep` go too.
    assert await refresher.refresh(sessions, now + timedelta(days=30), timedelta(days=3), 60.0) == 0
    assert await _kept(sessions, "UTC") == {}
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM report_views")) == 0


async def test_kept_days_answer_as_the_measure_tables_in_a_half_hour_zone(
    desk: Desk, sessions: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    ann, _ = await seed.two_sms_agents(sessions, "ann", "ben")
    # Around the midnights of Kolkata (18:30Z): each conversation on a day of its own.
    for number, moment in enumerate((utc(2, 18, 20), utc(2, 18, 40), utc(3, 19))):
        desk.clock.at(moment)
        cid = await desk.writes(f"+49151000000{number}")
        desk.clock.advance(30)
        await desk.accepts(ann, cid)
        desk.clock.advance(60 * (number + 1))
        await desk.replies(ann, cid)
        desk.clock.advance(600)
        await desk.resolves(ann, cid)
    headers = await bearer(sessions, Role.SUPERVISOR)
    # Monday to Wednesday.
    window = {"from": "2026-03-02T00:00:00+05:30", "to": "2026-03-05T00:00:00+05:30"}
    params = {**window, "tz": "Asia/Kolkata"}
    read = await client.get("/v1/reports/conversations", params=params, headers=headers)
    assert read.status_code == 200, read.text
    assert [row["created"] for row in read.json()["rows"]] == [1, 1, 1]

    assert await refresher.refresh(sessions, utc(5, 12), timedelta(days=10), 60.0) >= 3
    kept = await client.get("/v1/reports/conversations", params=params, headers=headers)
    assert kept.json() == read.json()
    weekly = await client.get(
        "/v1/reports/conversations", params={**params, "bucket": "week"}, headers=headers
    )
    [week] = weekly.json()["rows"]
    assert week["bucket_start"] == "2026-03-02T00:00:00+05:30"
    assert week["created"] == 3
    assert week["first_response"]["count"] == 3
    # Answered after 90, 150 and 210 s: the median read from its bin, within 2.4 %.
    assert abs(week["first_response"]["p50_seconds"] - 150) <= 0.025 * 150


async def test_the_sweep_refreshes_the_report_days(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    now = utc(5, 10)
    await _view(sessions, "Europe/Berlin", now)
    stop = asyncio.Event()
    swept = settings.model_copy(update={"reports_refresh_seconds": 0.05, "reports_keep_days": 3})
    sweeping = asyncio.create_task(sweep_forever(sessions, swept, stop, clock=lambda: now))
    try:

        async def kept_both() -> bool:
            return len(await _kept(sessions, "Europe/Berlin")) == 2

        await until(kept_both, "the sweep's refresher to keep two days")
    finally:
        stop.set()
        await sweeping
    # Berlin's 3rd and 4th of March (UTC+1), the days within three days that have ended.
    assert list(await _kept(sessions, "Europe/Berlin")) == [utc(2, 23), utc(3, 23)]


async def test_refresh_reports_keeps_every_missing_day_at_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # Asked for now: every day of the last ROUTER_REPORTS_KEEP_DAYS that has ended.
    await _view(sessions, "America/New_York", datetime.now(UTC))
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROUTER_")}
    env.update(ROUTER_DATABASE_URL=database_url, ROUTER_REPORTS_KEEP_DAYS="10")
    done = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("router")),
        "refresh-reports",
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(done.communicate(), 120)
    assert done.returncode == 0, stderr
    kept = len(await _kept(sessions, "America/New_York"))
    assert kept in (9, 10)  # ten days back from now: the oldest began before, unless at midnight
    assert f"kept {kept} report days" in stderr.decode()
