"""Signing chat, social and phone webhook requests for the tests, and checking what landed.

The signatures here are computed independently of the adapters (straight from each
provider's documented recipe), so a test that passes proves the adapter agrees with it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from devstack.kafka import KafkaBroker
from router.inbound.envelope import Event, decode
from router.settings import Settings
from tests.adapters.conftest import SECRETS, Inbound
from tests.support import app_client

PUBLIC = "https://router.example.test"
PROBLEM_BASE = PUBLIC + "/problems/"

__all__ = ["Event"]


def webchat_headers(
    body: bytes,
    *,
    timestamp: int | None = None,
    secret: str = SECRETS["webchat_secret"],
    signature: str | None = None,
) -> dict[str, str]:
    """Our widget's headers: a timestamp and `v1=` HMAC-SHA256 over `timestamp.body`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Router-Timestamp": stamp,
        "X-Router-Signature": signature or f"v1={digest}",
    }


def meta_headers(body: bytes, secret: str = SECRETS["meta_app_secret"]) -> dict[str, str]:
    """Meta's headers: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def twilio_signed(
    path: str,
    params: Sequence[tuple[str, str]],
    *,
    query: str = "",
    token: str = SECRETS["twilio_auth_token"],
) -> tuple[bytes, dict[str, str]]:
    """A form body and headers signed as Twilio signs the public URL and the parameters."""
    url = f"{PUBLIC}{path}" + (f"?{query}" if query else "")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature_of(url, params, token),
    }
    return urlencode(list(params)).encode(), headers


def twilio_signature_of(
    url: str, params: Sequence[tuple[str, str]], token: str = SECRETS["twilio_auth_token"]
) -> str:
    """`X-Twilio-Signature`: base64 HMAC-SHA1 of the URL and the sorted names and values."""
    signed = url + "".join(key + value for key, value in sorted(set(params)))
    return base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()


async def chunked(body: bytes, size: int, pulled: list[int]) -> AsyncIterator[bytes]:
    """The body in chunks without a Content-Length, recording each chunk the app pulled."""
    for start in range(0, len(body), size):
        pulled.append(start)
        yield body[start : start + size]


async def published(inbound: Inbound, expected: int) -> list[tuple[Any, Event]]:
    """Exactly `expected` records, each keyed by its conversation, one partition per key."""
    records = await inbound.records(expected)
    assert len(records) == expected, f"expected {expected} records, found {len(records)}"
    found = [(record, decode(record.value)) for record in records]
    partitions: dict[bytes, set[int]] = {}
    for record, event in found:
        assert record.key == event.conversation_key.encode()
        partitions.setdefault(record.key, set()).add(record.partition)
    assert all(len(used) == 1 for used in partitions.values()), partitions
    return found


def by_conversation(found: Sequence[tuple[Any, Event]]) -> dict[str, list[Event]]:
    """The events per conversation key, each conversation in its partition's order.

    Kafka orders records within a partition only, so only per-conversation order is
    something a test may rely on.
    """
    grouped: dict[str, list[Event]] = {}
    for _, event in found:
        grouped.setdefault(event.conversation_key, []).append(event)
    return grouped


async def nothing_published(inbound: Inbound) -> None:
    """The inbound topic is empty: a refused request left nothing behind."""
    assert await inbound.records(0) == []


async def refused_while_reading(
    client: httpx.AsyncClient,
    inbound: Inbound,
    path: str,
    oversized: tuple[bytes, dict[str, str]],
    limit: int,
) -> None:
    """An oversized body gets 413, whole or streamed, and is not read far past the limit."""
    body, headers = oversized
    problem(await client.post(path, content=body, headers=headers), 413, "payload-too-large")
    pulled: list[int] = []
    stream = chunked(body * 4, 16 * 1024, pulled)
    problem(await client.post(path, content=stream, headers=headers), 413, "payload-too-large")
    assert len(pulled) * 16 * 1024 <= limit + 2 * 16 * 1024
    await nothing_published(inbound)


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """Check an RFC 9457 answer's status and type; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_BASE + kind, body
    assert body["status"] == status
    return body


async def post_during_outage(
    webhook_settings: Settings, requests: Sequence[tuple[str, bytes, dict[str, str]]]
) -> list[httpx.Response]:
    """Post each (path, body, headers) to an app whose own broker went away after it started."""
    broker = KafkaBroker(partitions=1)
    bootstrap = await asyncio.to_thread(broker.start)
    try:
        settings = webhook_settings.model_copy(
            update={"kafka_bootstrap_servers": bootstrap, "publish_timeout_seconds": 2.0}
        )
        async with app_client(settings) as (_, http):
            await asyncio.to_thread(broker.stop)
            # Leaving the block closes the app with the broker still gone: that must not hang.
            return [
                await http.post(path, content=body, headers=headers)
                for path, body, headers in requests
            ]
    finally:
        await asyncio.to_thread(broker.stop)


def assert_transport_unavailable(responses: Sequence[httpx.Response]) -> None:
    """Every answer is a 503 that tells the provider when to retry."""
    for response in responses:
        problem(response, 503, "transport-unavailable")
        assert int(response.headers["retry-after"]) > 0
