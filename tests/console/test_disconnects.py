"""A client that goes away before its body is complete: nothing is done, nothing is an error.

Served by uvicorn on a real socket, since only a real connection can be cut mid-body. A
webhook so cut is counted as 499 (client closed request, as nginx counts it), not as a 500
with a traceback, and publishes nothing; a `/v1` action whose body is shorter than its
Content-Length is never performed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories
from tests.adapters.conftest import Inbound
from tests.console.conftest import Team, bearer
from tests.support import served_app

SECRET = "disconnect-test-secret"


def _head(method: str, path: str, length: int, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _cut_after(port: int, sent: bytes) -> None:
    """Send `sent`, let the app start reading the body, then close the connection."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sent)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()


def _webhook_count(status: int) -> float:
    labels = {"channel": "chat", "provider": "webchat", "status": str(status)}
    return REGISTRY.get_sample_value("router_webhook_requests_total", labels) or 0.0


async def test_a_webhook_cut_mid_body_is_a_499_without_a_traceback_and_publishes_nothing(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    configured = settings.model_copy(update={"webchat_secret": SecretStr(SECRET)})
    body = json.dumps({"event_id": "e1", "text": "hello " * 50}).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Router-Timestamp": stamp,
        "X-Router-Signature": f"v1={signature.hexdigest()}",
    }
    closed, failed = _webhook_count(499), _webhook_count(500)
    caplog.set_level(logging.INFO)
    async with served_app(configured) as (_, port):
        await _cut_after(port, _head("POST", "/webhooks/chat", len(body), headers) + body[:40])
        for _ in range(200):  # until the app has answered the cut request
            if _webhook_count(499) + _webhook_count(500) > closed + failed:
                break
            await asyncio.sleep(0.05)
    assert _webhook_count(499) == closed + 1
    assert _webhook_count(500) == failed
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert await Inbound(configured).records(0) == []


async def _notes(sessions: async_sessionmaker[AsyncSession], conversation: uuid.UUID) -> int:
    async with sessions() as session:
        query = select(func.count()).where(
            Message.conversation_id == conversation, Message.direction == "internal"
        )
        return int(await session.scalar(query) or 0)


async def test_a_v1_body_shorter_than_its_content_length_is_never_acted_on(
    console_settings: Settings,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await routing_engine.process([factories.sms("where is it?")])
    caplog.set_level(logging.INFO)
    async with (
        served_app(console_settings) as (_, port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        listed = await client.get("/v1/conversations", headers=bearer(team.ada_key))
        [item] = listed.json()["items"]
        cid = uuid.UUID(item["id"])
        path = f"/v1/conversations/{cid}/notes"
        partial = b'{"text": "half"}'  # valid JSON, but 100 bytes were announced
        headers = {**bearer(team.ada_key), "Content-Type": "application/json"}
        await _cut_after(port, _head("POST", path, 100, headers) + partial)

        whole = await client.post(path, json={"text": "whole"}, headers=bearer(team.ada_key))
        assert whole.status_code == 201, whole.text
        await asyncio.sleep(0.5)  # time the cut request would need to be performed
    assert await _notes(sessions, cid) == 1
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
