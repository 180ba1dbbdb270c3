"""A TCP relay to the test's PostgreSQL that a test can cut, as a failover or partition would."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url


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


def relayed_url(database_url: str, relay: Relay) -> str:
    """`database_url`, reaching its server through `relay` instead of directly."""
    url = make_url(database_url)
    relayed = url.set(host="127.0.0.1", port=relay.port, query={})
    return relayed.render_as_string(hide_password=False)
