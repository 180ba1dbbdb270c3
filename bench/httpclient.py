"""A lean HTTP/1.1 keep-alive client for the load generator.

httpx costs a few hundred microseconds of CPU per request; on a 2-core machine that CPU is
taken from the server under test. This client writes prepared request bytes on pooled
keep-alive connections and reads only the status line and the body's length, so the load
generator stays a small share of the machine (its CPU is measured and reported).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast


class ConnectionClosed(Exception):
    """The server closed the connection before answering."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.usable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not `asyncio.Transport` subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            self._answer()

    def _answer(self) -> None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                return
        elif b"\r\ntransfer-encoding: chunked" in head:
            last = buffer.find(b"\r\n0\r\n\r\n", end)
            if last < 0:
                return
            total = last + 7
        else:
            total = end + 4
        del buffer[:total]
        if b"\r\nconnection: close" in head:
            self.usable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionClosed())

    def send(self, raw: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        waiter = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.transport.write(raw)
        return waiter

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()


class Client:
    """Pooled keep-alive connections to one server; at most `limit` of them."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self._host = host
        self._port = port
        self._limit = limit
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiting: deque[asyncio.Future[_Connection]] = deque()
        self.connects = 0

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        self.connects += 1
        _, connection = await loop.create_connection(_Connection, self._host, self._port)
        return connection

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection
            self._open -= 1
        if self._open < self._limit:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                raise
        waiter: asyncio.Future[_Connection] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await waiter

    def _release(self, connection: _Connection) -> None:
        if not connection.usable:
            connection.close()
            self._open -= 1
            if self._waiting:
                self._open += 1
                asyncio.get_running_loop().create_task(self._hand_over_new())
            return
        if self._waiting:
            self._waiting.popleft().set_result(connection)
        else:
            # Last in, first out: the fewest connections stay busy, the rest may idle out.
            self._idle.append(connection)

    async def _hand_over_new(self) -> None:
        try:
            connection = await self._connect()
        except OSError:
            self._open -= 1
            return
        if self._waiting:
            self._waiting.popleft().set_result(connection)
        else:
            self._idle.append(connection)

    async def request(self, raw: bytes) -> int:
        """Send one prepared request and return the answer's status code.

        A connection the server closed while idle (keep-alive timeout) is replaced once.
        """
        for attempt in (1, 2):
            connection = await self._acquire()
            try:
                status = await connection.send(raw)
            except ConnectionClosed:
                self._release(connection)
                if attempt == 2:
                    raise
                continue
            self._release(connection)
            return status
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every idle connection."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()
