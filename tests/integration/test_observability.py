"""Metrics move as work happens; logs are JSON lines that keep personal data out."""

from __future__ import annotations

import json
import logging
import re

import pytest
from pydantic import SecretStr

from router.observability.logs import JsonFormatter
from router.settings import Settings
from tests import seed
from tests.adapters.channel_requests import webchat_headers
from tests.support import app_client

SECRET_TEXT = "my card number is 4111 1111 1111 1111"
VISITOR_EMAIL = "ada.private@example.org"


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name:
            found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if found == wanted:
                return float(match.group(3))
    return 0.0


def _chat(event_id: str) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "visitor": {"id": "v_observed", "name": "Ada", "email": VISITOR_EMAIL},
            "session_id": "s_observed",
            "site": "shop-main",
            "text": SECRET_TEXT,
            "sent_at": "2026-11-22T12:00:00Z",
        },
        separators=(",", ":"),
    ).encode()


async def test_metrics_move_and_logs_carry_the_request_id_without_personal_data(
    database_url: str, sessions: object, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=database_url,  # type: ignore[arg-type]
        webchat_secret=SecretStr("test_webchat_secret"),
    )
    default = await seed.queue_id(sessions, "default")  # type: ignore[arg-type]
    await seed.add_agent(sessions, "watcher", capacity={"chat": 1}, queues=[default])  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    async with app_client(settings) as (_, client):
        before = (await client.get("/metrics")).text
        body = _chat("evt_metrics_1")
        answer = await client.post(
            "/webhooks/chat",
            content=body,
            headers={**webchat_headers(body), "X-Request-ID": "req-42"},
        )
        refused = await client.post(
            "/webhooks/chat", content=body, headers={"Content-Type": "application/json"}
        )
        after = (await client.get("/metrics")).text

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == "req-42"
    assert refused.status_code == 401
    ok = {"channel": "chat", "provider": "webchat", "status": "200"}
    bad = {"channel": "chat", "provider": "webchat", "status": "401"}
    assert (
        _sample(after, "router_webhook_requests_total", **ok)
        == _sample(before, "router_webhook_requests_total", **ok) + 1
    )
    assert (
        _sample(after, "router_webhook_requests_total", **bad)
        == _sample(before, "router_webhook_requests_total", **bad) + 1
    )
    published = {"transport": "inline"}
    assert (
        _sample(after, "router_publish_seconds_count", **published)
        == _sample(before, "router_publish_seconds_count", **published) + 1
    )
    assert (
        _sample(after, "router_conversation_changes_total", change="offered")
        >= _sample(before, "router_conversation_changes_total", change="offered") + 1
    )
    assert _sample(after, "router_agent_active_conversations", agent="watcher", channel="chat") == 1
    assert _sample(after, "router_agent_capacity", agent="watcher", channel="chat") == 1
    assert _sample(after, "router_queue_waiting_conversations", queue="default") == 0

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    documents = [json.loads(line) for line in lines]
    [published_line] = [doc for doc in documents if "event_ids" in doc]
    assert published_line["request_id"] == "req-42"
    [event_id] = published_line["event_ids"]
    # The same event id leads from the webhook to the conversation it was routed to.
    routed = [doc for doc in documents if doc.get("event_id") == event_id]
    assert routed
    assert routed[0]["conversation_id"]
    assert routed[0]["request_id"] == "req-42"  # inline: routed inside the same request
    everything = "\n".join(lines)
    assert SECRET_TEXT not in everything
    assert VISITOR_EMAIL not in everything
    assert "v_observed" not in everything
