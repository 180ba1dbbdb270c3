"""Reading a webhook's raw body from the ASGI messages, within the limit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

from adapters.channels.webhook import read_body
from router.errors import PayloadTooLarge


def _request(messages: Iterable[dict[str, Any]]) -> Request:
    pending = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(pending)

    return Request({"type": "http", "method": "POST", "headers": []}, receive)


def _chunks(*bodies: bytes) -> list[dict[str, Any]]:
    last = len(bodies) - 1
    return [
        {"type": "http.request", "body": body, "more_body": i < last}
        for i, body in enumerate(bodies)
    ]


async def test_a_body_in_chunks_is_read_whole() -> None:
    assert await read_body(_request(_chunks(b"ab", b"", b"cd")), limit=4) == b"abcd"
    assert await read_body(_request([{"type": "http.request"}]), limit=4) == b""


async def test_a_body_past_the_limit_is_refused_while_reading() -> None:
    with pytest.raises(PayloadTooLarge):
        await read_body(_request(_chunks(b"abc", b"de", b"never read")), limit=4)


async def test_a_client_gone_while_sending_is_a_disconnect() -> None:
    messages = [*_chunks(b"ab", b"cd")[:1], {"type": "http.disconnect"}]
    with pytest.raises(ClientDisconnect):
        await read_body(_request(messages), limit=100)
