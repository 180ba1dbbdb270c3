"""The database going away: the API answers 503 problems that say so, then recovers by itself.

The app reaches the real PostgreSQL through a TCP relay the test can cut, as a failover or
a network partition would: listening stops and every relayed connection is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.db import PING_AFTER_IDLE_SECONDS
from router.settings import Settings
from tests.console.conftest import Team, bearer
from tests.support import app_client


class Relay:
    """Forwards TCP connections on a local port to the database server; can be cut."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        socket_dir = url.query.get("host")
        self._unix = f"{socket_dir}/.s.PGSQL.{url.port or 5432}" if socket_dir else None
        self._target = (url.host or "127.0.0.1", url.port or 5432)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._unix is not None:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(self._unix)
        else:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
            return_exceptions=True,
        )

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        finally:
            self._writers.discard(sink)
            sink.transport.abort()


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[Relay]:
    relay = Relay(database_url)
    await relay.start()
    yield relay
    await relay.cut()


def _through(settings: Settings, relay: Relay, database_url: str) -> Settings:
    url = make_url(database_url)
    relayed = url.set(host="127.0.0.1", port=relay.port, query={})
    return settings.model_copy(
        update={"database_url": SecretStr(relayed.render_as_string(hide_password=False))}
    )


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
