"""A console 500 caused by the database logs no customer data, unless body logging is on."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import transaction
from router.observability import logs
from router.observability.logs import JsonFormatter
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.console.conftest import Team, bearer
from tests.factories import whatsapp
from tests.support import app_client

REPLY = "Your parcel 7731 goes to Baker Street 221b tomorrow"
CUSTOMER = "+16505551234"  # the number `whatsapp()` writes from

# A fault of the database's own (not a refused value, not an outage): the reply's insert
# fails with SQLSTATE XX000, which the API answers with a 500 and logs with its traceback.
_BREAK_REPLIES = (
    """CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'storage failed' USING ERRCODE = 'XX000'; END $$""",
    """CREATE TRIGGER refuse_message BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION refuse_message()""",
)


async def _failing_reply(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], team: Team
) -> httpx.Response:
    async with app_client(settings) as (_, client):
        await RoutingEngine(sessions, settings).process([whatsapp("Where is my parcel?")])
        work = await client.get("/v1/conversations", headers=bearer(team.ada_key))
        [item] = work.json()["items"]
        await client.post(f"/v1/conversations/{item['id']}/accept", headers=bearer(team.ada_key))
        async with transaction(sessions) as session:
            for statement in _BREAK_REPLIES:
                await session.execute(text(statement))
        return await client.post(
            f"/v1/conversations/{item['id']}/replies",
            headers=bearer(team.ada_key),
            json={"text": REPLY},
        )


def _written(caplog: pytest.LogCaptureFixture) -> str:
    """The log as the router writes it: each record through the JSON formatter."""
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


async def test_a_database_500_logs_neither_the_reply_nor_the_address(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    answer = await _failing_reply(console_settings, sessions, team)
    assert answer.status_code == 500, answer.text
    written = _written(caplog)
    assert "unhandled error" in written
    assert "storage failed" not in written  # the database's text is left out...
    assert "SQLSTATE XX000" in written  # ...its code and statement are kept
    assert "INSERT INTO messages" in written
    assert REPLY not in written
    assert CUSTOMER not in written
    assert CUSTOMER.removeprefix("+") not in written


async def test_body_logging_shows_the_parameters_for_debugging(
    console_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "_log_bodies", True)  # as `ROUTER_LOG_BODIES` configures it
    caplog.set_level(logging.INFO)
    settings = console_settings.model_copy(update={"log_bodies": True})
    answer = await _failing_reply(settings, sessions, team)
    assert answer.status_code == 500, answer.text
    written = _written(caplog)
    assert "storage failed" in written
    assert REPLY in written
