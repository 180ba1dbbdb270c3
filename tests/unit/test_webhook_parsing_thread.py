"""Webhook bodies are parsed on the event loop unless they are big."""

from __future__ import annotations

import threading

from adapters.channels.webhook import INLINE_PARSE_BYTES, parse_big_off_loop


def _parser_thread(_: object) -> int | None:
    return threading.get_ident()


async def test_a_typical_body_is_parsed_inline_and_a_big_one_in_a_thread() -> None:
    loop_thread = threading.get_ident()
    small = await parse_big_off_loop(_parser_thread, None, INLINE_PARSE_BYTES - 1)
    big = await parse_big_off_loop(_parser_thread, None, INLINE_PARSE_BYTES)
    assert small == loop_thread
    assert big != loop_thread
