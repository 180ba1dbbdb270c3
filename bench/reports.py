"""`python -m bench.reports`: the reports API's latency on a million conversations.

Creates a database of its own on the PostgreSQL in `ROUTER_TEST_DATABASE_URL` (what
`python -m devstack run` provides; `make bench-reports` does both), applies the migrations,
generates the conversations and their measures set-based in SQL (generate_series; the
measure tables directly, as the triggers would have kept them, with SLA clocks and survey
answers), then calls each report
endpoint through the real app repeatedly and prints p50/p99 latencies per call: first with
no report day kept (every bucket read from the measure tables), then after the refresher
has kept the days of each view asked for, as a running router has them. Measured and
reported (docs/performance.md), never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from router.app import create_app
from router.auth.roles import Role
from router.auth.service import issue_key
from router.db import create_engine, create_sessionmaker, transaction
from router.migrate import upgrade
from router.reports import refresher
from router.settings import Settings

DATABASE = "bench_reports"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

# A year of traffic ending at NOW, spread evenly: 10 queues, 50 agents, 6 channels.
_GENERATE = [
    """
    INSERT INTO queues (id, name)
    SELECT gen_random_uuid(), 'queue-' || q FROM generate_series(1, 10) AS q
    ON CONFLICT DO NOTHING
    """,
    """
    INSERT INTO agents (id, handle, display_name, presence)
    SELECT gen_random_uuid(), 'agent-' || a, 'Agent ' || a, 'offline'
    FROM generate_series(1, 50) AS a
    """,
    """
    INSERT INTO customers (id)
    SELECT gen_random_uuid() FROM generate_series(1, 100000)
    """,
    """
    CREATE TEMP TABLE numbered_customers AS
    SELECT row_number() OVER () - 1 AS n, id FROM customers
    """,
    "CREATE INDEX ON numbered_customers (n)",
    """
    CREATE TEMP TABLE generated AS
    WITH picks AS (
        SELECT (SELECT array_agg(id ORDER BY name) FROM queues) AS queues,
               (SELECT array_agg(id ORDER BY handle) FROM agents) AS agents
    )
    SELECT gen_random_uuid() AS id,
           c.id AS customer_id,
           (ARRAY['email', 'chat', 'whatsapp', 'sms', 'voice', 'messenger'])[1 + (g % 6)]
               AS channel,
           p.queues[1 + (g % 10)] AS queue_id,
           p.agents[1 + ((g * 7) % 50)] AS agent_id,
           :now::timestamptz - interval '365 days' * random() AS created_at,
           5 + 600 * random() ^ 2 AS wait_offer,
           15 + 900 * random() ^ 2 AS wait_accept,
           30 + 3600 * random() ^ 3 AS first_response,
           300 + 7200 * random() AS handle,
           (g % 17 = 0) AS abandoned,
           (g % 9 = 0) AS transferred,
           (g % 11 = 0) AS reopened
    FROM generate_series(1, :conversations) AS g
    CROSS JOIN picks p
    JOIN numbered_customers c ON c.n = g % 100000
    """,
    # Rows land in time order, as they do in production.
    "CREATE TEMP TABLE in_order AS SELECT * FROM generated ORDER BY created_at",
    "DROP TABLE generated",
    "ALTER TABLE in_order RENAME TO generated",
    """
    INSERT INTO conversations (id, customer_id, channel, status, queue_id, last_agent_id,
                               waiting_since, last_message_at, created_at, resolved_at)
    SELECT id, customer_id, channel, 'resolved', queue_id, agent_id, created_at, created_at,
           created_at, created_at + (wait_accept + handle) * interval '1 second'
    FROM generated
    """,
    """
    INSERT INTO conversation_metrics
        (conversation_id, channel, queue_id, agent_id, created_at, first_offered_at,
         first_accepted_at, first_message_at, first_response_at, handle_seconds, resolutions,
         last_resolved_at, transfers, reopens, abandoned_at)
    SELECT id, channel, queue_id, CASE WHEN NOT abandoned THEN agent_id END, created_at,
           created_at + wait_offer * interval '1 second',
           CASE WHEN NOT abandoned THEN created_at + wait_accept * interval '1 second' END,
           created_at,
           CASE WHEN NOT abandoned THEN created_at + first_response * interval '1 second' END,
           CASE WHEN abandoned THEN 0 ELSE handle END, 1,
           created_at + (wait_accept + handle) * interval '1 second',
           transferred::int, reopened::int,
           CASE WHEN abandoned THEN created_at + wait_accept * interval '1 second' END
    FROM generated
    """,
    """
    INSERT INTO conversation_responses
        (conversation_id, channel, queue_id, agent_id, waited_from, responded_at, seconds, first)
    SELECT id, channel, queue_id, agent_id, at, at + s * interval '1 second', s, r = 1
    FROM generated,
         LATERAL (SELECT r, created_at + (r - 1) * handle / 3 * interval '1 second' AS at,
                         CASE WHEN r = 1 THEN first_response ELSE 20 + 600 * random() END AS s
                  FROM generate_series(1, 2) AS r) AS replies
    WHERE NOT abandoned
    """,
    """
    INSERT INTO conversation_resolutions
        (conversation_id, channel, queue_id, agent_id, created_at, handled_from, resolved_at,
         resolution_seconds, handle_seconds, abandoned)
    SELECT id, channel, queue_id, agent_id, created_at,
           CASE WHEN NOT abandoned THEN created_at + wait_accept * interval '1 second' END,
           created_at + (wait_accept + handle) * interval '1 second',
           wait_accept + handle, CASE WHEN NOT abandoned THEN handle END, abandoned
    FROM generated
    """,
    # SLA clocks: first response due in 10 minutes, resolution in 2 hours, the second reply
    # in 15 minutes; a late one was seen by the sweep (breached at its due time) and met later.
    """
    INSERT INTO conversation_slas
        (conversation_id, target, policy_name, policy_version, target_seconds, calendar,
         started_at, due_at, met_at, breached_at)
    SELECT id, t.target, 'bench', 1, t.seconds, 'always', t.started,
           t.started + t.seconds * interval '1 second',
           t.started + t.took * interval '1 second',
           CASE WHEN t.took > t.seconds THEN t.started + t.seconds * interval '1 second' END
    FROM generated,
         LATERAL (VALUES ('first_response', 600, created_at, first_response),
                         ('resolution', 7200, created_at, wait_accept + handle),
                         ('next_response', 900, created_at + handle / 3 * interval '1 second',
                          20 + 1200 * random())) AS t(target, seconds, started, took)
    WHERE NOT abandoned
    """,
    # Three in ten customers answer their survey: CSAT mostly, NPS on email, CES on chat.
    """
    CREATE TEMP TABLE answered AS
    SELECT id, channel, queue_id, agent_id,
           created_at + (wait_accept + handle) * interval '1 second' AS resolved_at,
           CASE channel WHEN 'email' THEN 'nps' WHEN 'chat' THEN 'ces' ELSE 'csat' END AS kind,
           random() AS r
    FROM generated
    WHERE NOT abandoned AND random() < 0.3
    """,
    """
    INSERT INTO feedback_surveys
        (id, conversation_id, resolution, resolved_at, agent_id, queue_id, channel, kind,
         question, thanks, by_link, provider, via, send_at, sent_at, expires_at, answered_at,
         created_at)
    SELECT id, id, 1, resolved_at, agent_id, queue_id, channel, kind, 'How did we do?',
           'Thanks', channel IN ('email', 'chat'), 'bench', 'bench', resolved_at, resolved_at,
           resolved_at + interval '3 days', resolved_at + interval '10 minutes', resolved_at
    FROM answered
    """,
    """
    INSERT INTO feedback
        (id, survey_id, conversation_id, resolution, agent_id, queue_id, channel, kind, score,
         received_at)
    SELECT gen_random_uuid(), id, id, 1, agent_id, queue_id, channel, kind,
           CASE kind WHEN 'csat' THEN 1 + floor(r * 5) WHEN 'ces' THEN 1 + floor(r * 7)
                     ELSE floor(r * 11) END,
           resolved_at + interval '10 minutes'
    FROM answered ORDER BY resolved_at
    """,
    """
    INSERT INTO presence_changes (agent_id, from_presence, to_presence, actor, changed_at)
    SELECT a.id, s.from_presence, s.to_presence, 'bench',
           :now::timestamptz - interval '365 days' + d * interval '1 day' + s.at
    FROM agents a, generate_series(0, 364) AS d,
         (VALUES ('offline', 'online', interval '8 hours'),
                 ('online', 'offline', interval '16 hours')) AS s(from_presence, to_presence, at)
    """,
    # Autovacuum does this for insert-only tables soon after; the index-only scans need it.
    "VACUUM ANALYZE",
]


async def generate(url: str, conversations: int) -> float:
    """Fill the database; how long it took in seconds."""
    parsed = make_url(url)
    query = dict(parsed.query)
    host = query.pop("host", None)
    dsn = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, **({"host": str(host)} if host else {}))
    started = time.perf_counter()
    try:
        # Written as the triggers would have kept it: the triggers (and foreign keys) are off
        # while generating, so no change is noted for report days not kept anyway.
        await connection.execute("SET session_replication_role = replica")
        for statement in _GENERATE:
            sql = statement.replace(":now", f"'{NOW.isoformat()}'").replace(
                ":conversations", str(conversations)
            )
            await connection.execute(sql)
    finally:
        await connection.close()
    return time.perf_counter() - started


ZONE = "Europe/Berlin"


def _calls(days: int) -> list[tuple[str, str, dict[str, str]]]:
    """Windows from a local midnight, as a dashboard asks for them ("the last 30 days":
    today and the 29 days before): to the newest data (an hour into the local day), or to
    23:00 the day before (a whole day read from the tables)."""
    zone = ZoneInfo(ZONE)
    today = NOW.astimezone(zone).date()

    def window(span: int, end: datetime = NOW) -> dict[str, str]:
        first = today - timedelta(days=span - 1 if end == NOW else span)
        start = datetime.combine(first, datetime.min.time(), zone)
        return {"from": start.isoformat(), "to": end.isoformat(), "tz": ZONE}

    late = datetime.combine(today - timedelta(days=1), datetime.min.time(), zone).replace(hour=23)
    path = "/v1/reports/conversations"
    return [
        ("by queue, day, 7 days", path, {**window(7), "by": "queue"}),
        ("by queue, day, 30 days", path, {**window(30), "by": "queue"}),
        ("by agent, week, 30 days", path, {**window(30), "by": "agent", "bucket": "week"}),
        ("by channel, hour, 1 day", path, {**window(1), "by": "channel", "bucket": "hour"}),
        (f"by queue, week, {days} days", path, {**window(days), "bucket": "week"}),
        ("by queue, day, 30 days, CSV", path, {**window(30), "format": "csv"}),
        ("by queue, day, 30 days to 23:00", path, {**window(30, late), "by": "queue"}),
        (
            "by agent, week, 30 days to 23:00",
            path,
            {**window(30, late), "by": "agent", "bucket": "week"},
        ),
        ("occupancy, day, 7 days", "/v1/reports/occupancy", window(7)),
        ("occupancy, day, 30 days", "/v1/reports/occupancy", window(30)),
    ]


async def measure(url: str, repeat: int, longest: int) -> list[tuple[str, float, float, int]]:
    """Each call `repeat` times after two unmeasured ones: (name, p50 ms, p99 ms, rows)."""
    # The app's own sweep refreshes nothing while it is measured: `keep` does that first.
    settings = Settings(database_url=url, reports_refresh_seconds=1e9)
    engine = create_engine(url, pool_size=2)
    async with transaction(create_sessionmaker(engine)) as session:
        issued = await issue_key(session, role=Role.SUPERVISOR, name="bench", actor="bench")
    await engine.dispose()
    headers = {"Authorization": f"Bearer {issued.token}"}
    app = create_app(settings)
    results: list[tuple[str, float, float, int]] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, path, params in _calls(longest):
                timings: list[float] = []
                answer = None
                for attempt in range(repeat + 2):
                    started = time.perf_counter()
                    answer = await client.get(path, params=params, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    if answer.status_code != 200:
                        raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
                    if attempt >= 2:
                        timings.append(elapsed)
                assert answer is not None
                rows = (
                    len(answer.text.splitlines()) - 1
                    if params.get("format") == "csv"
                    else len(answer.json()["rows"])
                )
                results.append((name, statistics.median(timings), _p99(timings), rows))
    return results


async def keep(url: str) -> tuple[int, float]:
    """Run the reports' refresher until every view asked for has its days kept: how many
    days, in how many seconds."""
    engine = create_engine(url, pool_size=2)
    sessions = create_sessionmaker(engine)
    started = time.perf_counter()
    kept = 0
    try:
        while computed := await refresher.refresh(sessions, NOW, timedelta(days=200), 60.0):
            kept += computed
    finally:
        await engine.dispose()
    return kept, time.perf_counter() - started


def _p99(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def main(arguments: argparse.Namespace) -> None:
    server = os.environ.get("ROUTER_TEST_DATABASE_URL") or os.environ.get("ROUTER_DATABASE_URL")
    if not server:
        raise SystemExit("set ROUTER_TEST_DATABASE_URL (make bench-reports does)")
    admin_url = make_url(server)
    admin = make_url(server).set(drivername="postgresql", database="postgres")
    query = dict(admin.query)
    host = query.pop("host", None)
    connection = await asyncpg.connect(
        admin.set(query={}).render_as_string(hide_password=False),
        **({"host": str(host)} if host else {}),
    )
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()
    url = admin_url.set(database=DATABASE).render_as_string(hide_password=False)
    await upgrade(url)
    took = await generate(url, arguments.conversations)
    print(f"generated {arguments.conversations:,} conversations in {took:.0f} s")
    print("\nno report day kept: every bucket from the measure tables")
    _print(await measure(url, arguments.repeat, arguments.longest))
    kept, took = await keep(url)
    print(f"\nkept {kept:,} report days (time zone, grouping, day) in {took:.1f} s")
    _print(await measure(url, arguments.repeat, arguments.longest))


def _print(results: list[tuple[str, float, float, int]]) -> None:
    print(f"{'call':34} {'p50 ms':>8} {'p99 ms':>8} {'rows':>6}")
    for name, p50, p99, rows in results:
        print(f"{name:34} {p50:8.1f} {p99:8.1f} {rows:6}")


def _parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30, help="measured calls per endpoint")
    parser.add_argument("--longest", type=int, default=92, help="days of the longest window")
    return parser.parse_args(argv)


def run(argv: Sequence[str] | None = None) -> Any:
    """Entry point: generate, then measure."""
    return asyncio.run(main(_parse(argv)))


if __name__ == "__main__":
    run()
