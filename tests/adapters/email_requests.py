"""Building the email providers' requests for the webhook tests, and checking what landed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from devstack.kafka import KafkaBroker
from router.inbound.envelope import InboundMessage, decode
from router.settings import Settings
from tests.adapters.conftest import SECRETS
from tests.support import app_client


def basic_auth(password: str, user: str = "inbound") -> dict[str, str]:
    """The Authorization header a provider sends for `https://user:password@host/...`."""
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@dataclass(frozen=True)
class FilePart:
    field: str
    filename: str
    content_type: str
    content: bytes


def multipart(
    fields: Sequence[tuple[str, str | bytes]],
    files: Sequence[FilePart] = (),
    boundary: str = "xYzZY",
) -> tuple[bytes, str]:
    """A multipart/form-data body as SendGrid and Mailgun post it, and its content type."""
    chunks: list[bytes] = []
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    for file in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file.field}"; '
            f'filename="{file.filename}"\r\nContent-Type: {file.content_type}\r\n\r\n'.encode()
            + file.content
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def mailgun_signature(timestamp: str, token: str, key: str = SECRETS["mailgun_signing_key"]) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def mailgun_signed(
    fields: dict[str, str], *, timestamp: int | None = None, key: str | None = None
) -> dict[str, str]:
    """The fields plus a fresh `timestamp`, `token` and matching `signature`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = secrets.token_hex(25)
    signature = mailgun_signature(stamp, token, key or SECRETS["mailgun_signing_key"])
    return {**fields, "timestamp": stamp, "token": token, "signature": signature}


async def chunked(body: bytes, size: int, consumed: list[int]) -> AsyncIterator[bytes]:
    """The body in chunks without a Content-Length, counting how many the app pulled."""
    for start in range(0, len(body), size):
        consumed.append(start)
        yield body[start : start + size]


async def email_events(inbound: Any, expected: int) -> list[tuple[Any, InboundMessage]]:
    """The records on the inbound topic with their decoded email envelopes."""
    found = []
    for record in await inbound.records(expected):
        event = decode(record.value)
        assert isinstance(event, InboundMessage)
        found.append((record, event))
    return found


def assert_keyed_by_conversation(records: Sequence[tuple[Any, InboundMessage]]) -> None:
    """Each record's Kafka key is its conversation key, and one key means one partition."""
    partitions: dict[bytes, set[int]] = {}
    for record, event in records:
        assert record.key == event.conversation_key.encode()
        partitions.setdefault(record.key, set()).add(record.partition)
    assert all(len(found) == 1 for found in partitions.values())


async def post_during_outage(
    webhook_settings: Settings, path: str, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """Post to an app whose own Kafka broker stops answering after the app started.

    The broker is frozen (SIGSTOP) rather than killed: with a dead broker, aiokafka's
    producer.stop() waits forever to flush the batch that timed out, so the app could not
    shut down; thawed after the answer, the broker lets the app stop cleanly.
    """
    broker = KafkaBroker(partitions=1)
    bootstrap = await asyncio.to_thread(broker.start)
    try:
        settings = webhook_settings.model_copy(
            update={"kafka_bootstrap_servers": bootstrap, "publish_timeout_seconds": 2.0}
        )
        async with app_client(settings) as (_, http):
            assert broker.process is not None
            os.killpg(broker.process.pid, signal.SIGSTOP)
            try:
                return await http.post(path, content=content, headers=headers)
            finally:
                os.killpg(broker.process.pid, signal.SIGCONT)
    finally:
        await asyncio.to_thread(broker.stop)
