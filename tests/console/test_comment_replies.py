"""Replies to comments and mentions: in public under the comment, or privately to its author."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.channels import Channel, IdentityKind
from router.inbound.envelope import CustomerIdentity, InboundMessage, MessageKind
from router.models import Message
from router.routing.engine import RoutingEngine
from tests import factories
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.providers import FakeProviders
from tests.console.replies import accepted, settled

ACCOUNT, MEDIA, PAGE, POST = "17841400000000001", "18025000000000001", "682498302938465", "682_1"


def comment(
    channel: Channel,
    comment_id: str,
    *,
    parent_id: str | None = None,
    kind: MessageKind = MessageKind.COMMENT,
    days_ago: float = 0,
) -> InboundMessage:
    """A comment (or mention) as the Meta adapter gives it, with its conversation key."""
    business, post = (ACCOUNT, MEDIA) if channel is Channel.INSTAGRAM else (PAGE, POST)
    metadata = {"message_type": kind.value, "post_id": post}
    if comment_id:
        metadata["comment_id"] = comment_id
    if parent_id:
        metadata["parent_id"] = parent_id
    what = "mention" if kind is MessageKind.MENTION else "comment"
    return InboundMessage(
        channel=channel,
        provider="meta",
        provider_message_id=f"{what}:{comment_id or post}",
        conversation_key=f"{channel.value}:{business}|{what}:{post}|{parent_id or comment_id}",
        customer=CustomerIdentity(kind=IdentityKind(channel.value), value="4411223344"),
        recipient=business,
        kind=kind,
        text="Is this in stock?",
        stripped_text="Is this in stock?",
        metadata=metadata,
        provider_timestamp=datetime.now(UTC) - timedelta(days=days_ago),
    )


async def reply_to(
    client: httpx.AsyncClient,
    engine: RoutingEngine,
    team: Team,
    message: InboundMessage,
    **body: Any,
) -> tuple[str, httpx.Response]:
    """Route `message` to Ada, who accepts it and replies with `body`."""
    cid = await accepted(client, engine, team.ada_key, message)
    response = await client.post(
        f"/v1/conversations/{cid}/replies", headers=bearer(team.ada_key), json=body
    )
    return cid, response


@pytest.mark.parametrize(
    ("channel", "parent", "path"),
    [
        (Channel.INSTAGRAM, None, "/17900000000000001/replies"),
        # Instagram takes replies under top-level comments only.
        (Channel.INSTAGRAM, "17900000000000000", "/17900000000000000/replies"),
        (Channel.MESSENGER, None, "/17900000000000001/comments"),
    ],
)
async def test_a_reply_to_a_comment_goes_under_it_in_public_by_default(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
    channel: Channel,
    parent: str | None,
    path: str,
) -> None:
    app, client = api
    found = comment(channel, "17900000000000001", parent_id=parent)
    cid, response = await reply_to(client, routing_engine, team, found, text="Yes, in every size.")
    assert response.status_code == 202, response.text
    assert response.json()["visibility"] == "public"
    message = await settled(app, sessions, response.json()["id"])
    [request] = fake_providers.requests
    assert request.path == path
    assert request.headers["authorization"] == f"Bearer {providers.PAGE_TOKEN}"
    assert request.json() == {"message": "Yes, in every size."}
    assert message.delivery_status == "sent"
    detail = (await client.get(f"/v1/conversations/{cid}", headers=bearer(team.ada_key))).json()
    [shown] = [item for item in detail["messages"]["items"] if item["direction"] == "outbound"]
    assert shown["visibility"] == "public"


async def test_a_private_reply_goes_once_to_the_comments_author(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    found = comment(Channel.INSTAGRAM, "17900000000000002")
    cid, response = await reply_to(
        client, routing_engine, team, found, text="I sent you the details.", visibility="private"
    )
    assert response.status_code == 202, response.text
    message = await settled(app, sessions, response.json()["id"])
    [request] = fake_providers.requests
    assert request.path == "/me/messages"
    assert request.json() == {
        "recipient": {"comment_id": "17900000000000002"},
        "message": {"text": "I sent you the details."},
    }
    assert (message.delivery_status, message.visibility) == ("sent", "private")
    again = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"text": "And one more thing", "visibility": "private"},
    )
    assert again.status_code == 409
    assert "already has its private reply" in again.json()["detail"]
    public = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"text": "Answered in your inbox"},
    )
    assert public.status_code == 202, public.text


async def test_a_private_reply_after_seven_days_is_refused(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    _, client = api
    found = comment(Channel.INSTAGRAM, "17900000000000003", days_ago=8)
    _, response = await reply_to(
        client, routing_engine, team, found, text="Hi", visibility="private"
    )
    assert response.status_code == 409
    assert "within 7 days" in response.json()["detail"]
    assert "private_reply_closed_at" in response.json()
    async with sessions() as session:
        stored = await session.scalars(select(Message).where(Message.direction == "outbound"))
        assert stored.all() == []
    assert fake_providers.requests == []


async def test_a_mention_is_answered_under_the_mentioning_comment(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    found = comment(Channel.INSTAGRAM, "17900000000000004", kind=MessageKind.MENTION)
    cid, response = await reply_to(client, routing_engine, team, found, text="Thank you!")
    assert response.status_code == 202, response.text
    await settled(app, sessions, response.json()["id"])
    [request] = fake_providers.requests
    assert request.path == f"/{ACCOUNT}/mentions"
    assert request.json() == {
        "message": "Thank you!",
        "comment_id": "17900000000000004",
        "media_id": MEDIA,
    }
    private = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(team.ada_key),
        json={"text": "psst", "visibility": "private"},
    )
    assert private.status_code == 409


async def test_a_mention_in_a_caption_has_no_comment_to_reply_under(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    _, client = api
    found = comment(Channel.INSTAGRAM, "", kind=MessageKind.MENTION)
    _, response = await reply_to(client, routing_engine, team, found, text="Thank you!")
    assert response.status_code == 409
    assert "caption" in response.json()["detail"]
    assert fake_providers.requests == []


async def test_visibility_is_refused_on_a_reply_that_answers_no_comment(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    _, response = await reply_to(
        client, routing_engine, team, factories.sms("hi"), text="Hi", visibility="public"
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("visibility:")
    unknown = await client.post(
        f"/v1/conversations/{uuid.uuid4()}/replies",
        headers=bearer(team.ada_key),
        json={"text": "Hi", "visibility": "everyone"},
    )
    assert unknown.status_code == 422
