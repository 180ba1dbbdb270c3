"""One customer on every channel, with files both ways, through the real webhooks and engine.

Amara sends an MMS, a WhatsApp image, calls, emails a PDF, sends photos on Messenger and
Instagram, and writes in the shop's web chat logged in. Every request is signed as its
provider signs it and goes through the real webhook, Kafka and the routing engine the app
runs (`serve_with_consumer`) onto the real database; the media the providers host is fetched
from the local provider stand-in, which also checks every reply sent back. Ada, the one agent
on every channel, downloads each file, answers with one of her own, links what the router
could not link itself, and resolves each conversation. Cy, who takes WhatsApp, calls and
chat too, is passed over each time the customer is known on arrival: Ada owned them last.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.channels.webchat import verify_signature
from adapters.kafka.topics import ensure_topics
from router.models import Conversation
from router.settings import Settings
from tests.adapters.call_steps import CALL_SID, call_comes_in, dialled, params, ring_or_voicemail
from tests.adapters.channel_requests import PUBLIC
from tests.adapters.conftest import SECRETS
from tests.adapters.twilio_requests import EMPTY_TWIML, call_status_params, post_signed
from tests.console import customer_messages as amara
from tests.console import providers
from tests.console.conftest import Team, bearer
from tests.console.media_hosts import JPEG, PDF, PNG
from tests.console.providers import FakeProviders, Recorded
from tests.console.replies import settled, uploaded
from tests.support import app_client, refusal

STICKY_HOURS = 24
ADA_PHONE = "+14155550101"
TWILIO = providers.TWILIO_TOKEN  # signs Twilio's webhooks and authenticates our API calls


@pytest.fixture
async def everything(
    console_settings: Settings,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The whole router in one app: webhooks, Kafka, the engine, the fetcher, the senders."""
    settings = console_settings.model_copy(
        update={
            **{
                name: SecretStr(SECRETS[name])
                for name in ("postmark_inbound_token", "meta_app_secret", "meta_verify_token")
            },
            "public_base_url": PUBLIC,
            "serve_with_consumer": True,
            "attachment_fetch_interval_seconds": 0.1,
            "sticky_owner_hours": STICKY_HOURS,
        }
    )
    await ensure_topics(settings)
    async with app_client(settings) as running:
        yield running


class Console:
    """Ada's console and what the stand-in received, for one conversation after another."""

    def __init__(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        sessions: async_sessionmaker[AsyncSession],
        team: Team,
        stand_in: FakeProviders,
    ) -> None:
        self.app, self.client, self.sessions, self.stand_in = app, client, sessions, stand_in
        self.ada = bearer(team.ada_key)
        self.seen = 0

    async def offered(self, channel: str) -> str:
        """The conversation on `channel` the engine offered Ada, once it has."""
        for _ in range(300):
            listed = await self.client.get(
                "/v1/conversations", headers=self.ada, params={"channel": channel}
            )
            waiting = [item for item in listed.json()["items"] if item["status"] == "open"]
            if waiting:
                [item] = waiting
                assert item["offer_state"] == "offered", item
                return str(item["id"])
            await asyncio.sleep(0.1)
        raise AssertionError(f"nothing on {channel} was offered to Ada")

    async def accept(self, channel: str) -> str:
        cid = await self.offered(channel)
        accepted = await self.client.post(f"/v1/conversations/{cid}/accept", headers=self.ada)
        assert accepted.status_code == 200, accepted.text
        return cid

    async def detail(self, cid: str) -> dict[str, Any]:
        shown = await self.client.get(f"/v1/conversations/{cid}", headers=self.ada)
        assert shown.status_code == 200, shown.text
        document: dict[str, Any] = shown.json()
        return document

    async def received_file(self, cid: str) -> dict[str, Any]:
        """The customer's one file, once it is no longer waiting to be fetched."""
        for _ in range(300):
            [inbound] = [
                m
                for m in (await self.detail(cid))["messages"]["items"]
                if m["direction"] == "inbound"
            ]
            [file] = inbound["attachments"]
            if file.get("status") != "pending":
                return dict(file)
            await asyncio.sleep(0.1)
        raise AssertionError(f"the file of {cid} was never fetched")

    async def download(self, cid: str, file: dict[str, Any]) -> bytes:
        assert file["status"] == "stored", file
        url = f"/v1/conversations/{cid}/attachments/{file['id']}"
        response = await self.client.get(url, headers=self.ada)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == file["content_type"]
        return response.content

    async def reply_with(self, cid: str, name: str, kind: str, content: bytes) -> list[Recorded]:
        """Ada replies with one uploaded file; what the provider stand-in received for it."""
        key = self.ada["Authorization"].removeprefix("Bearer ")
        upload = await uploaded(self.client, key, cid, name, kind, content)
        response = await self.client.post(
            f"/v1/conversations/{cid}/replies",
            headers=self.ada,
            json={"text": "Here you are.", "attachment_ids": [upload]},
        )
        assert response.status_code == 202, response.text
        assert [a["id"] for a in response.json()["attachments"]] == [upload]
        message = await settled(self.app, self.sessions, response.json()["id"])
        assert (message.delivery_status, message.delivery_error) == ("sent", None)
        return self.sent()

    def sent(self) -> list[Recorded]:
        """What we posted to the providers since the last look."""
        fresh = self.stand_in.requests[self.seen :]
        self.seen = len(self.stand_in.requests)
        return [request for request in fresh if request.method == "POST"]

    async def served(self, link: str) -> bytes:
        """Fetch one of our file links as the provider does: no credentials."""
        assert link.startswith(f"{PUBLIC}/files/"), link
        response = await self.client.get(urlsplit(link).path)
        assert response.status_code == 200, response.text
        return response.content

    async def resolve(self, cid: str) -> None:
        resolved = await self.client.post(
            f"/v1/conversations/{cid}/resolve", headers=self.ada, json={"reason": "answered"}
        )
        assert resolved.status_code == 200, resolved.text

    async def link(self, customer: str, kind: str, value: str, reason: str) -> None:
        linked = await self.client.post(
            f"/v1/customers/{customer}/identities",
            headers=self.ada,
            json={"kind": kind, "value": value, "reason": reason},
        )
        assert linked.status_code == 201, linked.text


async def add_cy(client: httpx.AsyncClient, team: Team) -> str:
    """A second agent, online, for the channels on which the customer is known on arrival."""
    admin = bearer(team.admin_key)
    created = await client.post(
        "/v1/agents",
        headers=admin,
        json={
            "handle": "cy",
            "display_name": "Cy",
            "capacity": {"whatsapp": 2, "voice": 1, "chat": 2},
            "queue_ids": [str(team.default_queue)],
            "voice": {"endpoint_kind": "client"},
        },
    )
    assert created.status_code == 201, created.text
    cy = str(created.json()["id"])
    online = await client.put(
        f"/v1/agents/{cy}/presence", headers=admin, json={"presence": "online"}
    )
    assert online.status_code == 200, online.text
    return cy


async def test_one_customer_on_every_channel_with_files_both_ways(
    everything: tuple[FastAPI, httpx.AsyncClient],
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    fake_providers: FakeProviders,
) -> None:
    app, client = everything
    console = Console(app, client, sessions, team, fake_providers)
    admin = bearer(team.admin_key)
    ada = str(team.ada)
    # Ada takes calls too, on her phone.
    calls = await client.patch(
        f"/v1/agents/{ada}",
        headers=admin,
        json={
            "capacity": {
                "email": 2,
                "sms": 2,
                "whatsapp": 2,
                "messenger": 2,
                "instagram": 2,
                "chat": 2,
                "voice": 1,
            },
            "voice": {"endpoint_kind": "number", "endpoint": ADA_PHONE},
        },
    )
    assert calls.status_code == 200, calls.text
    cy = await add_cy(client, team)
    site = await client.put(
        f"/v1/chat-sites/{amara.SITE}",
        headers=admin,
        json={"reply_url": fake_providers.base_url + providers.CHAT_PATH},
    )
    assert site.status_code == 200, site.text
    stand_in = fake_providers.base_url
    conversations: dict[str, str] = {}

    # 1. An MMS: a stranger's number; Twilio's media fetched with the account's Basic auth.
    assert (await amara.mms(client, stand_in, "ME0001")).status_code == 200
    cid = conversations["sms"] = await console.accept("sms")
    file = await console.received_file(cid)
    assert await console.download(cid, file) == JPEG
    twilio_auth = base64.b64encode(f"{providers.TWILIO_SID}:{TWILIO}".encode()).decode()
    fetched = [r for r in fake_providers.requests if r.path.endswith("/Media/ME0001")]
    assert fetched[0].headers["authorization"] == f"Basic {twilio_auth}"
    console.sent()
    [mms] = await console.reply_with(cid, "label.jpg", "image/jpeg", JPEG)
    assert mms.path == f"/2010-04-01/Accounts/{providers.TWILIO_SID}/Messages.json"
    assert mms.headers["authorization"] == f"Basic {twilio_auth}"
    form = parse_qs(mms.body.decode())
    assert form["To"] == [amara.NUMBER]
    assert await console.served(form["MediaUrl"][0]) == JPEG
    await console.resolve(cid)
    found = await client.get(
        "/v1/customers", params={"identity": f"phone:{amara.NUMBER}"}, headers=console.ada
    )
    assert found.status_code == 200, found.text
    customer = str(found.json()["id"])

    # 2. WhatsApp from the same number: the same customer by proof, offered to Ada first.
    assert (await amara.whatsapp_image(client, "wa-media-1")).status_code == 200
    cid = conversations["whatsapp"] = await console.accept("whatsapp")
    file = await console.received_file(cid)
    assert await console.download(cid, file) == PNG
    lookup = [r for r in fake_providers.requests if r.path == "/wa-media-1"]
    assert lookup[0].headers["authorization"] == f"Bearer {providers.WHATSAPP_TOKEN}"
    console.sent()
    text, image = await console.reply_with(cid, "replacement.png", "image/png", PNG)
    for request in (text, image):
        assert request.path == f"/{amara.WHATSAPP_LINE}/messages"
        assert request.headers["authorization"] == f"Bearer {providers.WHATSAPP_TOKEN}"
    assert text.json()["text"]["body"] == "Here you are."
    assert await console.served(image.json()["image"]["link"]) == PNG
    await console.resolve(cid)

    # 3. A call from the same number rings Ada's phone; she answers. A call takes no files.
    wait = await call_comes_in(client, token=TWILIO)
    _, verbs = await ring_or_voicemail(client, wait, token=TWILIO)
    dial, noun = dialled(verbs)
    assert (noun.tag, noun.text, dial.query("action")["agent"]) == ("Number", ADA_PHONE, ada)
    leg = params(CallSid="CA22222222222222222222222222222222", ParentCallSid=CALL_SID)
    answered = await post_signed(client, noun.attributes["statusCallback"], leg, token=TWILIO)
    assert answered.content == EMPTY_TWIML
    [call] = (
        await client.get("/v1/conversations", headers=console.ada, params={"channel": "voice"})
    ).json()["items"]
    cid = conversations["voice"] = str(call["id"])
    assert call["offer_state"] == "accepted"
    key = team.ada_key
    photo = await uploaded(client, key, cid, "a.png", "image/png", PNG)
    refused = await client.post(
        f"/v1/conversations/{cid}/replies",
        headers=console.ada,
        json={"text": "See this.", "attachment_ids": [photo]},
    )
    refusal(refused, 422, "channel-takes-no-files")
    done = params(DialCallStatus="completed", DialCallDuration="95")
    await post_signed(client, dial.attributes["action"], done, token=TWILIO)
    ended = call_status_params("completed", CallSid=CALL_SID, CallDuration="140")
    await post_signed(client, "/webhooks/twilio/voice/status", ended, token=TWILIO)
    await console.resolve(cid)

    # 4. An email with a PDF: a new address, kept with its file before the 2xx; Ada links it.
    assert (await amara.email_with_pdf(client, PDF)).status_code == 200
    cid = conversations["email"] = await console.accept("email")
    file = await console.received_file(cid)
    assert (file["filename"], await console.download(cid, file)) == ("order-4521.pdf", PDF)
    console.sent()
    [mail] = await console.reply_with(cid, "invoice.pdf", "application/pdf", PDF)
    assert mail.path == "/email"
    assert mail.headers["x-postmark-server-token"] == providers.POSTMARK_TOKEN
    sent_mail = mail.json()
    assert amara.EMAIL in sent_mail["To"]
    threading = {header["Name"]: header["Value"] for header in sent_mail["Headers"]}
    # Threaded under her message (ids are kept in the router's canonical, lower-cased form).
    assert threading["In-Reply-To"] == "<CAH9k2Lw.sat-window.88012@mail.example.com>".lower()
    assert sent_mail["Attachments"] == [
        {
            "Name": "invoice.pdf",
            "Content": base64.b64encode(PDF).decode(),
            "ContentType": "application/pdf",
        }
    ]
    await console.link(customer, "email", amara.EMAIL, "her order number matches")
    await console.resolve(cid)

    # 5. and 6. Messenger and Instagram: photos by CDN URL, fetched with no token; Ada links.
    for channel, kind, identity, sent_name, sent_kind, content in (
        ("messenger", "page", amara.PSID, "guide.pdf", "application/pdf", PDF),
        ("instagram", "instagram", amara.IGSID, "new.png", "image/png", PNG),
    ):
        media = "wa-media-1" if channel == "messenger" else "ME0001"
        wrote = await amara.social_image(client, kind, f"{stand_in}/cdn/{media}")
        assert wrote.status_code == 200, wrote.text
        cid = conversations[channel] = await console.accept(channel)
        file = await console.received_file(cid)
        assert await console.download(cid, file) == (PNG if media == "wa-media-1" else JPEG)
        console.sent()
        text, attachment = await console.reply_with(cid, sent_name, sent_kind, content)
        for request in (text, attachment):
            assert request.path == "/me/messages"
            assert request.headers["authorization"] == f"Bearer {providers.PAGE_TOKEN}"
            assert request.json()["recipient"] == {"id": identity}
        served = attachment.json()["message"]["attachment"]["payload"]["url"]
        assert await console.served(served) == content
        await console.link(customer, channel, identity, f"she named her {channel} account")
        await console.resolve(cid)

    # 7. Web chat, logged in: the shop's login verified her number, so she is known at once.
    assert (await amara.chat_with_file(client, amara.NUMBER)).status_code == 200
    cid = conversations["chat"] = await console.accept("chat")
    file = await console.received_file(cid)
    # The widget keeps the file and says where: metadata, no bytes of ours to download.
    assert (file["filename"], file["url"]) == (
        "receipt.png",
        "https://cdn.shop.example/u/receipt.png",
    )
    kept_by_widget = await client.get(
        f"/v1/conversations/{cid}/attachments/{file['id']}", headers=console.ada
    )
    assert kept_by_widget.status_code == 409, kept_by_widget.text
    console.sent()
    [chat] = await console.reply_with(cid, "steps.pdf", "application/pdf", PDF)
    assert chat.path == providers.CHAT_PATH
    verify_signature(
        providers.WEBCHAT_SECRET.encode(),
        chat.body,
        chat.headers["x-router-timestamp"],
        chat.headers["x-router-signature"],
        300,
    )
    [sent_file] = chat.json()["files"]
    assert (sent_file["filename"], sent_file["size"]) == ("steps.pdf", len(PDF))
    assert await console.served(sent_file["url"]) == PDF
    await console.resolve(cid)

    await the_customer_holds_everything(client, sessions, team, customer, conversations, cy)


async def the_customer_holds_everything(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    team: Team,
    customer: str,
    conversations: dict[str, str],
    cy: str,
) -> None:
    """One customer with every identity and conversation; Ada owned each, sticky when known."""
    supervisor = bearer(team.supervisor_key)
    ada = str(team.ada)
    whole = (await client.get(f"/v1/customers/{customer}", headers=supervisor)).json()
    assert {(i["kind"], i["value"]) for i in whole["identities"]} == {
        ("phone", amara.NUMBER),
        ("whatsapp", amara.NUMBER),
        ("email", amara.EMAIL),
        ("messenger", amara.PSID),
        ("instagram", amara.IGSID),
        ("webchat", amara.VISITOR),
    }
    sources = {i["kind"]: i["source"] for i in whole["identities"]}
    assert (sources["phone"], sources["whatsapp"], sources["webchat"]) == (
        "first_contact",
        "same_number",
        "verified_login",
    )
    assert [(c["id"], c["status"]) for c in whole["conversations"]] == [
        (conversations[channel], "resolved") for channel in conversations
    ]
    assert [c["channel"] for c in whole["conversations"]] == [
        "sms",
        "whatsapp",
        "voice",
        "email",
        "messenger",
        "instagram",
        "chat",
    ]
    agents_links = [
        item["details"]["kind"]
        for item in whole["history"]
        if item["kind"] == "identity_linked" and item["actor"].startswith("agent:")
    ]
    assert sorted(agents_links) == ["email", "instagram", "messenger"], whole["history"]
    for kind, value in [(i["kind"], i["value"]) for i in whole["identities"]]:
        found = await client.get(
            "/v1/customers", params={"identity": f"{kind}:{value}"}, headers=supervisor
        )
        assert found.json()["id"] == customer, (kind, found.text)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Conversation.id, Conversation.customer_id, Conversation.last_agent_id)
            )
        ).all()
    assert {(str(c), str(owner), str(last)) for c, owner, last in rows} == {
        (c, customer, ada) for c in conversations.values()
    }

    known_on_arrival = {"whatsapp", "voice", "chat"}
    previous: str | None = None
    for channel, cid in conversations.items():
        shown = (await client.get(f"/v1/conversations/{cid}", headers=supervisor)).json()
        kinds = [event["kind"] for event in shown["events"]["items"]]
        story = [k for k in kinds if k in ("offered", "accepted", "resolved")]
        assert story == ["offered", "accepted", "resolved"], (channel, kinds)
        [offer] = [e for e in shown["events"]["items"] if e["kind"] == "offered"]
        [taken] = [e for e in shown["events"]["items"] if e["kind"] == "accepted"]
        assert offer["agent_id"] == taken["agent_id"] == ada, channel
        directions = [(m["direction"], len(m["attachments"])) for m in shown["messages"]["items"]]
        assert directions[0] == ("inbound", 0 if channel == "voice" else 1), (channel, directions)
        if channel != "voice":
            assert ("outbound", 1) in directions, (channel, directions)
        eligible = [
            agent
            for verdict, agents in offer["details"]["candidates"].items()
            if verdict.startswith("eligible")
            for agent in agents
        ]
        if channel in known_on_arrival:
            assert offer["details"]["previous_owner"] == {
                "agent_id": ada,
                "conversation_id": previous,
                "offered": True,
            }, channel
            assert cy in eligible, (channel, offer["details"])
        else:
            # A stranger until Ada linked them: nobody owned them before, only Ada serves it.
            assert "previous_owner" not in offer["details"], (channel, offer["details"])
            assert eligible == [ada], (channel, offer["details"])
        previous = cid
