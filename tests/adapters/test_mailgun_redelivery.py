"""Mailgun's retries of a post are taken; a token reused for another post is refused.

The memory of tokens lives in PostgreSQL, so every router process (several `router serve`
replicas behind a load balancer) shares it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Message, SignedToken
from router.routing.engine import RoutingEngine
from router.routing.runner import sweep_forever
from router.settings import Settings
from tests.adapters.channel_requests import nothing_published
from tests.adapters.conftest import Inbound
from tests.adapters.email_requests import (
    email_events,
    mailgun_forward,
    mailgun_signed,
    multipart,
)
from tests.support import app_client

URL = "/webhooks/email/mailgun"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _messages(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_a_redelivery_is_taken_again_and_stores_nothing_new_on_kafka(
    client: httpx.AsyncClient,
    inbound: Inbound,
    webhook_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    body = urlencode(mailgun_signed(mailgun_forward())).encode()
    first = await client.post(URL, content=body, headers=FORM)
    again = await client.post(URL, content=body, headers=FORM)
    assert (first.status_code, again.status_code) == (200, 200)

    # Both are on the topic; the routing engine keeps one message of them.
    events = [event for _, event in await email_events(inbound, 2)]
    assert len({event.provider_message_id for event in events}) == 1
    await RoutingEngine(sessions, webhook_settings).process(events)
    assert await _messages(sessions) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SignedToken)) == 1


async def test_a_redelivery_is_taken_again_and_stores_nothing_new_inline(
    webhook_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    inline = webhook_settings.model_copy(update={"kafka_bootstrap_servers": None})
    body = urlencode(mailgun_signed(mailgun_forward())).encode()
    async with app_client(inline) as (_, http):
        answers = [(await http.post(URL, content=body, headers=FORM)).status_code for _ in "ab"]
    assert answers == [200, 200]
    assert await _messages(sessions) == 1


async def test_the_same_post_encoded_afresh_is_the_same_post(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    fields = mailgun_signed(mailgun_forward())
    one, one_type = multipart(list(fields.items()), boundary="first-boundary")
    two, two_type = multipart(list(fields.items()), boundary="second-boundary")
    assert (await client.post(URL, content=one, headers={"Content-Type": one_type})).is_success
    assert (await client.post(URL, content=two, headers={"Content-Type": two_type})).is_success
    assert (await client.post(URL, content=urlencode(fields), headers=FORM)).is_success
    assert len(await email_events(inbound, 3)) == 3


async def test_a_token_reused_for_another_post_is_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    fields = mailgun_signed(mailgun_forward())
    assert (await client.post(URL, content=urlencode(fields), headers=FORM)).status_code == 200
    other = {**fields, "stripped-text": "Refund me to another account", "subject": "Urgent"}
    refused = await client.post(URL, content=urlencode(other), headers=FORM)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/replayed-request")
    assert refused.json()["detail"] == (
        "this token was already used within the replay window for another post"
    )
    assert len(await email_events(inbound, 1)) == 1


async def test_two_router_instances_share_the_memory_of_tokens(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    fields = mailgun_signed(mailgun_forward())
    other = urlencode({**fields, "body-plain": "another body"}).encode()
    async with app_client(webhook_settings) as (_, one), app_client(webhook_settings) as (_, two):
        assert (await one.post(URL, content=urlencode(fields), headers=FORM)).status_code == 200
        assert (await two.post(URL, content=other, headers=FORM)).status_code == 401
        assert (await two.post(URL, content=urlencode(fields), headers=FORM)).status_code == 200
        assert (await one.post(URL, content=other, headers=FORM)).status_code == 401
    assert len(await email_events(inbound, 2)) == 2


async def test_a_token_older_than_the_window_is_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    stale = mailgun_signed(mailgun_forward(), timestamp=int(time.time()) - 301)
    response = await client.post(URL, content=urlencode(stale), headers=FORM)
    assert response.status_code == 401
    assert response.json()["type"].endswith("/replayed-request")
    await nothing_published(inbound)


async def test_the_sweep_forgets_tokens_past_their_window(
    webhook_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        for token, seconds in (("old", -1), ("fresh", 60)):
            session.add(
                SignedToken(
                    provider="mailgun",
                    token=token,
                    body_sha256=b"x",
                    first_seen_at=now - timedelta(seconds=300),
                    expires_at=now + timedelta(seconds=seconds),
                )
            )
    stop = asyncio.Event()
    sweeping = asyncio.create_task(sweep_forever(sessions, webhook_settings, stop))
    for _ in range(100):
        async with sessions() as session:
            left = (await session.scalars(text("SELECT token FROM signed_tokens"))).all()
        if left == ["fresh"]:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await sweeping
    assert left == ["fresh"]
