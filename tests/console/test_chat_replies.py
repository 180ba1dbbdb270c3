"""Web-chat replies reach the visitor's site, signed, and the site's status news comes back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.channels.webchat import verify_signature
from router.models import Message
from tests.adapters.channel_requests import webchat_headers
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders
from tests.console.receipts import Receipts, detail, new_id, reply_as_ada, reply_status
from tests.console.replies import accept_offer, settled
from tests.support import refusal

SITE = "shop-main"


def visitor_message(session_id: str, text: str) -> bytes:
    return json.dumps(
        {
            "event_id": f"evt_{new_id()}",
            "site": SITE,
            "session_id": session_id,
            "visitor": {"id": "v_81d0", "name": "Ada Visitor"},
            "text": text,
            "sent_at": "2026-12-02T09:00:00Z",
        }
    ).encode()


def reply_status_event(session_id: str, reply_id: str, status: str, **extra: Any) -> bytes:
    return json.dumps(
        {
            "type": "reply.status",
            "event_id": f"st_{new_id()}",
            "site": SITE,
            "session_id": session_id,
            "reply_id": reply_id,
            "status": status,
            "at": datetime.now(UTC).isoformat(),
            **extra,
        }
    ).encode()


def signed(body: bytes) -> dict[str, str]:
    return webchat_headers(body, secret=providers.WEBCHAT_SECRET)


async def put_site(client: httpx.AsyncClient, team: Team, url: str) -> httpx.Response:
    return await client.put(
        f"/v1/chat-sites/{SITE}", headers=bearer(team.admin_key), json={"reply_url": url}
    )


async def test_admins_say_where_each_sites_replies_go(
    client: httpx.AsyncClient, team: Team
) -> None:
    admin = bearer(team.admin_key)
    created = await put_site(client, team, "https://chat.shop.example/replies")
    assert created.status_code == 200, created.text
    assert created.json()["reply_url"] == "https://chat.shop.example/replies"
    replaced = await put_site(client, team, "http://10.0.0.7:8080/router/replies?v=2")
    assert replaced.json()["reply_url"] == "http://10.0.0.7:8080/router/replies?v=2"
    assert replaced.json()["created_at"] == created.json()["created_at"]
    await client.put("/v1/chat-sites/blog", headers=admin, json={"reply_url": "https://b.example"})
    listed = (await client.get("/v1/chat-sites", headers=admin)).json()
    assert [(site["site"], site["reply_url"]) for site in listed] == [
        ("blog", "https://b.example"),
        (SITE, "http://10.0.0.7:8080/router/replies?v=2"),
    ]
    assert (await client.get(f"/v1/chat-sites/{SITE}", headers=admin)).json()["site"] == SITE
    assert (await client.delete(f"/v1/chat-sites/{SITE}", headers=admin)).status_code == 204
    missing = await client.get(f"/v1/chat-sites/{SITE}", headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.delete(f"/v1/chat-sites/{SITE}", headers=admin)).status_code == 404
    for key in (team.ada_key, team.supervisor_key):
        forbidden = await client.put(
            f"/v1/chat-sites/{SITE}", headers=bearer(key), json={"reply_url": "https://x.example"}
        )
        assert forbidden.status_code == 403
    assert [
        site["site"] for site in (await client.get("/v1/chat-sites", headers=admin)).json()
    ] == ["blog"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://chat.shop.example/replies", "https://"),
        ("chat.shop.example/replies", "https://"),
        ("https:///replies", "no host"),
        ("https://user:secret@chat.shop.example/", "credentials"),
        ("https://chat.shop.example/ replies", "spaces"),
        ("https://chat.shop.example:99999/", "not a URL"),
        ("", "at least 1"),
    ],
)
async def test_a_reply_url_that_is_no_http_url_is_refused_naming_it(
    client: httpx.AsyncClient, team: Team, url: str, says: str
) -> None:
    response = await put_site(client, team, url)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "reply_url" in response.text
    assert says in response.text, response.text
    listed = await client.get("/v1/chat-sites", headers=bearer(team.admin_key))
    assert listed.json() == []


async def test_a_site_id_the_widget_could_not_send_is_refused(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await client.put(
        "/v1/chat-sites/a%7Cb", headers=bearer(team.admin_key), json={"reply_url": "https://x.io"}
    )
    assert response.status_code == 422
    assert "site" in response.text


async def test_a_chat_reply_is_posted_signed_and_its_statuses_reach_the_console(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    assert (await put_site(client, team, fake_providers.base_url + providers.CHAT_PATH)).is_success
    fake_providers.failures.append(503)  # the backend's hiccup is tried again
    await receipts.post(
        "/webhooks/chat", body := visitor_message("s_5f2c", "Blue one?"), signed(body)
    )
    cid, mid = await reply_as_ada(client, team, "Yes, in stock.")
    message = await settled(app, sessions, mid)

    assert len(fake_providers.requests) == 2
    request = fake_providers.requests[-1]
    assert request.path == providers.CHAT_PATH
    assert request.headers["content-type"] == "application/json"
    verify_signature(
        providers.WEBCHAT_SECRET.encode(),
        request.body,
        request.headers["x-router-timestamp"],
        request.headers["x-router-signature"],
        300,
    )
    document = request.json()
    sent_at = datetime.fromisoformat(document.pop("sent_at"))
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 60
    assert document == {
        "type": "reply",
        "event_id": mid,
        "site": SITE,
        "session_id": "s_5f2c",
        "visitor_id": "v_81d0",
        "text": "Yes, in stock.",
        "agent_name": "Ada",
        "files": [],
    }
    assert (message.delivery_status, message.provider, message.provider_message_id) == (
        "sent",
        "webchat",
        mid,
    )
    assert message.details["attempts"] == 2
    assert await reply_status(client, team, cid, mid) == "sent"

    for status in ("delivered", "read"):
        body = reply_status_event("s_5f2c", mid, status)
        answer = await receipts.post("/webhooks/chat", body, signed(body))
        assert answer.json() == {"status": "accepted"}
        assert await reply_status(client, team, cid, mid) == status
    # News never goes back: a late "delivered" leaves it read.
    body = reply_status_event("s_5f2c", mid, "delivered")
    await receipts.post("/webhooks/chat", body, signed(body))
    assert await reply_status(client, team, cid, mid) == "read"


async def test_the_widgets_failure_report_marks_the_reply_failed_and_says_why(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = signed_api
    await put_site(client, team, fake_providers.base_url + providers.CHAT_PATH)
    await receipts.post("/webhooks/chat", body := visitor_message("s_9", "Hello?"), signed(body))
    cid, mid = await reply_as_ada(client, team, "Hi!")
    await settled(app, sessions, mid)
    body = reply_status_event("s_9", mid, "failed", error="the visitor closed the tab")
    await receipts.post("/webhooks/chat", body, signed(body))
    shown = await detail(client, team, cid)
    [reply] = [m for m in shown["messages"]["items"] if m["id"] == mid]
    assert (reply["delivery_status"], reply["delivery_error"]) == (
        "failed",
        "the visitor closed the tab",
    )
    [event] = [e for e in shown["events"]["items"] if e["kind"] == "reply_failed"]
    assert event["details"]["message_id"] == mid
    assert event["details"]["provider"] == "webchat"
    assert "the visitor closed the tab" in event["details"]["error"]
    assert shown["conversation"]["failed_replies"] == 1


async def test_a_reply_to_a_site_without_a_reply_url_is_refused_and_not_stored(
    signed_api: tuple[FastAPI, httpx.AsyncClient],
    receipts: Receipts,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    _, client = signed_api
    await receipts.post("/webhooks/chat", body := visitor_message("s_1", "Anyone?"), signed(body))
    cid = await accept_offer(client, team.ada_key)
    response = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"text": "Here!"},
    )
    problem = refusal(response, 409, "chat-site-without-reply-url")
    assert problem["site"] == SITE
    assert f"PUT /v1/chat-sites/{SITE}" in problem["detail"]
    async with sessions() as session:
        outbound = await session.scalars(select(Message).where(Message.direction == "outbound"))
        assert outbound.all() == []
    assert fake_providers.requests == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"status": "sent"}, "status"),
        ({"reply_id": ""}, "reply_id"),
        ({"at": "yesterday"}, "at"),
        ({"type": "reply.deleted"}, "type"),
    ],
)
async def test_a_malformed_status_report_is_a_422_naming_the_field(
    signed_api: tuple[FastAPI, httpx.AsyncClient], change: dict[str, str], says: str
) -> None:
    _, client = signed_api
    document = json.loads(reply_status_event("s_1", "r1", "read")) | change
    body = json.dumps(document).encode()
    response = await client.post("/webhooks/chat", content=body, headers=signed(body))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(says), response.json()
