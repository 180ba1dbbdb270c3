"""Provider media fetched after storing (with the credentials each host needs), and downloads.

Meta's Graph API and Twilio's media URLs are stood in for by the local provider server,
which refuses a request without the credentials the real one needs and records every one.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.media.providers import ProviderMedia
from router.attachments.fetcher import AttachmentFetcher
from router.channels import Channel, IdentityKind
from router.inbound.envelope import (
    Attachment,
    AttachmentStatus,
    CustomerIdentity,
    InboundMessage,
    MessageKind,
    utcnow,
)
from router.models import Message, StoredAttachment
from router.outbound.backoff import RetryPolicy
from router.routing.engine import RoutingEngine
from router.settings import Settings
from router.state import RouterState
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.media_hosts import JPEG, PNG, twilio_media_url
from tests.console.providers import FakeProviders


def mms(*media: tuple[str, str], base_url: str) -> InboundMessage:
    """An MMS with Twilio-hosted media, `(media sid, declared type)` each."""
    return InboundMessage(
        channel=Channel.SMS,
        provider="twilio",
        provider_message_id=f"MM{uuid.uuid4().hex}",
        conversation_key="sms:+15550001111|+16505551234",
        customer=CustomerIdentity(kind=IdentityKind.PHONE, value="+16505551234"),
        recipient="+15550001111",
        kind=MessageKind.MEDIA,
        attachments=tuple(
            Attachment(
                content_type=kind,
                url=twilio_media_url(base_url, sid),
                status=AttachmentStatus.PENDING,
            )
            for sid, kind in media
        ),
    )


def whatsapp_image(media_id: str) -> InboundMessage:
    return InboundMessage(
        channel=Channel.WHATSAPP,
        provider="meta",
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        conversation_key="whatsapp:106540352242922|16505551234",
        customer=CustomerIdentity(kind=IdentityKind.WHATSAPP, value="+16505551234"),
        recipient="106540352242922",
        kind=MessageKind.MEDIA,
        text="(image)",
        attachments=(
            Attachment(
                content_type="image/png", media_id=media_id, status=AttachmentStatus.PENDING
            ),
        ),
    )


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def fetcher(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> AttachmentFetcher:
    state: RouterState = app.state.router
    return AttachmentFetcher(
        sessions,
        ProviderMedia(settings),
        state.blobs,
        settings.attachment_rules(),
        attempts=3,
        retry_base_seconds=1.0,
        clock=clock,
        # The longest wait of full jitter, so "not due yet" is certain.
        retry_policy=RetryPolicy(base_seconds=60.0, max_seconds=60.0, uniform=lambda: 1.0),
    )


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[StoredAttachment]:
    async with sessions() as session:
        found = await session.scalars(select(StoredAttachment).order_by(StoredAttachment.position))
        return list(found.all())


async def test_twilio_media_is_fetched_with_basic_auth_and_downloaded_by_its_reader(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    message = mms(
        ("ME0001", "image/jpeg"), ("ME0002", "image/png"), base_url=fake_providers.base_url
    )
    await routing_engine.process([message])
    photo, fake = await rows(sessions)
    assert (photo.status, fake.status) == ("pending", "pending")

    assert await fetcher(app, sessions, console_settings, Clock()).fetch_due() == 2

    photo, fake = await rows(sessions)
    assert (photo.status, photo.size, photo.sniffed_type) == ("stored", len(JPEG), "image/jpeg"), (
        photo.reason
    )
    assert photo.blob_key is not None
    assert (fake.status, fake.reason) == (
        "refused",
        "declared image/png, but the content is application/pdf",
    )
    credentials = base64.b64encode(
        f"{providers.TWILIO_SID}:{providers.TWILIO_TOKEN}".encode()
    ).decode()
    by_path = {request.path: request for request in fake_providers.requests}
    api_request = by_path[twilio_media_url("", "ME0001")]
    assert api_request.headers["authorization"] == f"Basic {credentials}"
    assert "authorization" not in by_path["/cdn/ME0001"].headers

    url = f"/v1/conversations/{photo.conversation_id}/attachments/{photo.id}"
    response = await client.get(url, headers=bearer(team.ada_key))
    assert response.status_code == 200
    assert response.content == JPEG
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert (await client.get(url, headers=bearer(team.supervisor_key))).content == JPEG
    # Bob may not read the conversation: it does not exist for him.
    assert (await client.get(url, headers=bearer(team.bob_key))).status_code == 404
    refused = await client.get(
        f"/v1/conversations/{fake.conversation_id}/attachments/{fake.id}",
        headers=bearer(team.ada_key),
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "declared image/png" in refused.json()["detail"]

    # The message's own copy says what the index says, ids included.
    detail = await client.get(
        f"/v1/conversations/{photo.conversation_id}", headers=bearer(team.ada_key)
    )
    [listed] = [m for m in detail.json()["messages"]["items"] if m["direction"] == "inbound"]
    assert [(a["id"], a["status"]) for a in listed["attachments"]] == [
        (str(photo.id), "stored"),
        (str(fake.id), "refused"),
    ]


async def test_whatsapp_media_is_looked_up_on_the_graph_then_fetched_with_the_token(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    await routing_engine.process([whatsapp_image("wa-media-1")])
    assert await fetcher(app, sessions, console_settings, Clock()).fetch_due() == 1
    [image] = await rows(sessions)
    assert (image.status, image.content_type, image.size) == ("stored", "image/png", len(PNG))
    lookup, download = fake_providers.requests
    assert (lookup.method, lookup.path) == ("GET", "/wa-media-1")
    assert download.path == "/lookaside/wa-media-1"
    for request in (lookup, download):
        assert request.headers["authorization"] == f"Bearer {providers.WHATSAPP_TOKEN}"
    response = await client.get(
        f"/v1/conversations/{image.conversation_id}/attachments/{image.id}",
        headers=bearer(team.ada_key),
    )
    assert response.content == PNG


async def test_a_host_that_fails_is_tried_again_later_and_a_missing_file_gives_up(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, _ = api
    message = mms(
        ("ME0001", "image/jpeg"), ("ME9999", "image/jpeg"), base_url=fake_providers.base_url
    )
    await routing_engine.process([message])
    clock = Clock()
    fetch = fetcher(app, sessions, console_settings, clock)
    fake_providers.failures.extend([503, 503])

    assert await fetch.fetch_due() == 2
    for row in await rows(sessions):
        assert (row.status, row.attempts, row.reason) == ("pending", 1, "twilio answered 503")
        assert row.next_attempt_at is not None
        assert row.next_attempt_at > clock.now
    # Not due yet: nothing is fetched before its back-off has passed.
    assert await fetch.fetch_due() == 0

    clock.now += timedelta(hours=1)
    assert await fetch.fetch_due() == 2
    photo, missing = await rows(sessions)
    assert photo.status == "stored"
    assert (missing.status, missing.reason, missing.attempts) == (
        "failed",
        "twilio answered 404",
        2,
    )
    async with sessions() as session:
        stored = await session.scalar(select(Message).where(Message.id == photo.message_id))
    assert stored is not None
    assert [a["status"] for a in stored.attachments] == ["stored", "failed"]
    assert stored.attachments[1]["reason"] == "twilio answered 404"
