"""The database going away: the API answers 503 problems that say so, then recovers by itself.

The app reaches the real PostgreSQL through a TCP relay the test can cut, as a failover or
a network partition would: listening stops and every relayed connection is dropped.
"""

from __future__ import annotations

import asyncio

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import PING_AFTER_IDLE_SECONDS
from router.settings import Settings
from tests.console.conftest import Team, bearer
from tests.relay import Relay, relayed_url
from tests.support import app_client


def _through(settings: Settings, relay: Relay, database_url: str) -> Settings:
    relayed = relayed_url(database_url, relay)
    return settings.model_copy(update={"database_url": SecretStr(relayed)})


async def test_console_answers_503_while_the_database_is_gone_then_recovers(
    console_settings: Settings,
    database_url: str,
    relay: Relay,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    async with app_client(_through(console_settings, relay, database_url)) as (_, client):
        me = await client.get("/v1/me", headers=bearer(team.ada_key))
        assert me.status_code == 200, me.text

        await relay.cut()
        for _ in range(3):  # busy connections fail, then new ones are refused
            gone = await client.get("/v1/me", headers=bearer(team.ada_key))
            assert gone.status_code == 503, gone.text
            assert gone.headers["content-type"] == "application/problem+json"
            assert gone.headers["retry-after"] == "5"
            problem = gone.json()
            assert problem["type"].endswith("/database-unavailable")
            assert problem["detail"] == "the database is unavailable; try again shortly"

        await relay.start()  # the same port again: the database is back
        statuses = []
        for _ in range(50):
            back = await client.get("/v1/me", headers=bearer(team.ada_key))
            statuses.append(back.status_code)
            if back.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert statuses[-1] == 200, statuses
        assert set(statuses) <= {200, 503}, statuses


async def test_resting_connections_survive_a_failover_unseen(
    console_settings: Settings,
    database_url: str,
    relay: Relay,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    settings = _through(console_settings, relay, database_url)
    async with app_client(settings) as (_, client):
        assert (await client.get("/v1/me", headers=bearer(team.ada_key))).status_code == 200
        await relay.cut()
        await relay.start()
        # Rested longer than the pool hands connections out untested: tested, replaced.
        await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
        me = await client.get("/v1/me", headers=bearer(team.ada_key))
        assert me.status_code == 200, me.text
