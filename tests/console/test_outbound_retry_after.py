"""A provider's Retry-After on 429 and 503 is honoured before the reply is tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.console.conftest import Team
from tests.console.providers import FakeProviders
from tests.console.replies import accepted_reply, settled


async def test_a_429_with_retry_after_in_seconds_is_waited_out_then_sent(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    # The back-off alone would wait at most 0.05 s (console_settings) before the second try.
    assert console_settings.outbound_retry_base_seconds <= 0.05
    app, client = api
    fake_providers.failures.append((429, {"Retry-After": "1"}))
    mid = await accepted_reply(
        client,
        routing_engine,
        team,
        factories.sms("Is my order on its way?"),
        "It left this morning.",
    )
    message = await settled(app, sessions, mid)
    first, second = fake_providers.requests
    assert second.at - first.at >= 0.95
    assert message.delivery_status == "sent"
    assert message.details["attempts"] == 2


async def test_a_503_with_retry_after_as_an_http_date_is_waited_out_then_sent(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    # An HTTP date has whole seconds; the router must not come back before it.
    until = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
    fake_providers.failures.append((503, {"Retry-After": format_datetime(until, usegmt=True)}))
    mid = await accepted_reply(
        client,
        routing_engine,
        team,
        factories.sms("Is my order on its way?"),
        "It left this morning.",
    )
    message = await settled(app, sessions, mid)
    first, second = fake_providers.requests
    assert first.wall_clock < until.timestamp() - 1
    assert second.wall_clock >= until.timestamp() - 0.05
    assert message.delivery_status == "sent"
    assert message.details["attempts"] == 2


async def test_without_retry_after_a_server_error_is_retried_after_a_short_jittered_wait(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    fake_providers.failures.extend([500, 500])
    mid = await accepted_reply(
        client,
        routing_engine,
        team,
        factories.sms("Is my order on its way?"),
        "It left this morning.",
    )
    message = await settled(app, sessions, mid)
    first, second, third = fake_providers.requests
    # Full jitter keeps the waits under the base and twice the base (tested exactly in
    # tests/unit/test_outbound_backoff.py); here, only that no long wait came in between,
    # with room for a loaded machine.
    assert second.at - first.at < 5
    assert third.at - second.at < 5
    assert message.delivery_status == "sent"
    assert message.details["attempts"] == 3
