"""Replies with files: uploaded, checked, stored, and sent as each provider takes them."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.channels import Channel, IdentityKind
from router.inbound.envelope import CustomerIdentity, InboundMessage, MessageKind
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests import factories, seed
from tests.console.conftest import Team, bearer, make_key
from tests.console.media_hosts import JPEG, PDF, PNG
from tests.console.providers import FakeProviders
from tests.console.replies import accepted, settled, uploaded
from tests.factories import whatsapp
from tests.support import app_client, refusal

PUBLIC = "http://router.test"


@pytest.fixture
async def linked(console_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with a public base URL, so the files of replies get links."""
    async with app_client(console_settings.model_copy(update={"public_base_url": PUBLIC})) as api:
        yield api


async def reply(client: httpx.AsyncClient, key: str, cid: str, ids: list[str]) -> httpx.Response:
    return await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=bearer(key),
        json={"text": "Here you are.", "attachment_ids": ids},
    )


async def test_an_email_reply_carries_its_files_to_postmark(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid = await accepted(client, routing_engine, team.ada_key, factories.email("Send the invoice?"))
    upload = await client.post(
        f"/v1/conversations/{cid}/attachments",
        headers=bearer(team.ada_key),
        files={"file": ("../invoice.pdf", PDF, "application/pdf")},
    )
    assert upload.status_code == 201
    assert upload.json()["filename"] == "invoice.pdf"
    assert upload.json()["size"] == len(PDF)
    response = await reply(client, team.ada_key, cid, [upload.json()["id"]])
    assert response.status_code == 202, response.text
    assert [a["id"] for a in response.json()["attachments"]] == [upload.json()["id"]]

    message = await settled(app, sessions, response.json()["id"])
    assert message.delivery_status == "sent"
    [sent] = fake_providers.requests
    assert sent.json()["Attachments"] == [
        {
            "Name": "invoice.pdf",
            "Content": base64.b64encode(PDF).decode(),
            "ContentType": "application/pdf",
        }
    ]
    # A file goes with one reply only.
    again = await reply(client, team.ada_key, cid, [upload.json()["id"]])
    assert again.status_code == 422
    assert again.json()["detail"] == "attachment_ids[0]: already sent with another reply"


async def test_an_mms_reply_names_a_signed_link_the_router_serves(
    linked: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = linked
    cid = await accepted(client, routing_engine, team.ada_key, factories.sms("A photo of it?"))
    photo = await uploaded(client, team.ada_key, cid, "kettle.jpg", "image/jpeg", JPEG)
    response = await reply(client, team.ada_key, cid, [photo])
    assert response.status_code == 202
    message = await settled(app, sessions, response.json()["id"])
    assert message.delivery_status == "sent"

    [sent] = fake_providers.requests
    form = parse_qs(sent.body.decode())
    [link] = form["MediaUrl"]
    assert link.startswith(f"{PUBLIC}/files/")
    served = await client.get(urlsplit(link).path)  # as Twilio fetches it: no credentials
    assert served.status_code == 200
    assert served.content == JPEG
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    token = urlsplit(link).path.rsplit("/", 1)[-1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert (await client.get(f"/files/{forged}")).status_code == 404


async def test_a_whatsapp_reply_sends_its_text_then_each_file_by_link(
    linked: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = linked
    cid = await accepted(client, routing_engine, team.ada_key, whatsapp("Manual and a photo?"))
    photo = await uploaded(client, team.ada_key, cid, "red.png", "image/png", PNG)
    manual = await uploaded(client, team.ada_key, cid, "manual.pdf", "application/pdf", PDF)
    response = await reply(client, team.ada_key, cid, [photo, manual])
    message = await settled(app, sessions, response.json()["id"])
    assert message.delivery_status == "sent"
    text, image, document = (request.json() for request in fake_providers.requests)
    assert text["type"] == "text"
    assert image["type"] == "image"
    assert image["image"]["link"].startswith(f"{PUBLIC}/files/")
    assert document["type"] == "document"
    assert document["document"]["filename"] == "manual.pdf"
    served = await client.get(urlsplit(document["document"]["link"]).path)
    assert served.content == PDF


async def test_without_a_public_url_a_link_only_provider_fails_the_reply_clearly(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = api
    cid = await accepted(client, routing_engine, team.ada_key, factories.sms("A photo?"))
    photo = await uploaded(client, team.ada_key, cid, "kettle.jpg", "image/jpeg", JPEG)
    response = await reply(client, team.ada_key, cid, [photo])
    message = await settled(app, sessions, response.json()["id"])
    assert message.delivery_status == "failed"
    assert "ROUTER_PUBLIC_BASE_URL" in (message.delivery_error or "")
    assert fake_providers.requests == []


async def test_uploads_are_checked_and_only_the_owner_may_upload(
    api: tuple[FastAPI, httpx.AsyncClient],
    console_settings: Settings,
    routing_engine: RoutingEngine,
    team: Team,
) -> None:
    _, client = api
    cid = await accepted(client, routing_engine, team.ada_key, factories.email("Hello"))
    url = f"/v1/conversations/{cid}/attachments"
    lying = await client.post(
        url, headers=bearer(team.ada_key), files={"file": ("a.png", PDF, "image/png")}
    )
    assert lying.status_code == 422
    assert lying.headers["content-type"] == "application/problem+json"
    assert lying.json()["detail"] == "file: declared image/png, but the content is application/pdf"
    page = await client.post(
        url, headers=bearer(team.ada_key), files={"file": ("x.html", b"<p>", "text/html")}
    )
    assert page.json()["detail"] == "file: type not allowed: text/html"
    big = bytes(console_settings.attachment_max_bytes + 1)
    too_big = await client.post(
        url, headers=bearer(team.ada_key), files={"file": ("v.mp4", big, "video/mp4")}
    )
    assert too_big.status_code == 413
    other = await client.post(
        url, headers=bearer(team.bob_key), files={"file": ("a.png", PNG, "image/png")}
    )
    assert other.status_code == 404
    unknown = await reply(client, team.ada_key, cid, [str(uuid.uuid4())])
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("attachment_ids[0]: no upload")


async def test_a_voice_reply_with_files_is_refused_as_such(
    api: tuple[FastAPI, httpx.AsyncClient],
    routing_engine: RoutingEngine,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
) -> None:
    _, client = api
    await seed.add_agent(sessions, "vic", capacity={"voice": 1}, queues=[team.default_queue])
    key = await make_key(sessions, Role.AGENT, agent="vic")
    call = InboundMessage(
        channel=Channel.VOICE,
        provider="twilio",
        provider_message_id=f"CA{uuid.uuid4().hex}",
        conversation_key="voice:+14155550199|+14155550100",
        customer=CustomerIdentity(kind=IdentityKind.PHONE, value="+14155550199"),
        recipient="+14155550100",
        kind=MessageKind.VOICEMAIL,
        text="(voicemail)",
    )
    cid = await accepted(client, routing_engine, key, call)
    photo = await uploaded(client, key, cid, "a.png", "image/png", PNG)
    response = await reply(client, key, cid, [photo])
    refusal(response, 422, "channel-takes-no-files")
