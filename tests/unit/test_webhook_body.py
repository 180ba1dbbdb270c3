"""Reading a webhook's raw body from the ASGI messages, within the limit, and its JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

from adapters.channels.webhook import json_document, read_body
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


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (rb'{"t": "a\ud800b"}', "a\x00b"),  # a lone high surrogate
        (rb'{"t": "a\udc00b"}', "a\x00b"),  # a lone low surrogate
        (rb'{"t": "\ud800\ud800\udc00"}', "\x00\U00010000"),  # alone, then a pair
        (rb'{"t": "a\ud83d\ude00b"}', "a\U0001f600b"),  # a pair is one character
        (rb'{"t": "a\\ud800b"}', "a\\ud800b"),  # an escaped backslash: no escape at all
        (rb'{"t": "a\\\ud800b"}', "a\\\x00b"),  # an escaped backslash, then an escape
    ],
)
def test_json_reads_a_lone_surrogate_as_nul(body: bytes, text: str) -> None:
    assert json_document(body) == {"t": text}
