"""A ten-message email thread, both ways, through the real parsers, engine and senders.

The customer writes through SendGrid, Mailgun and Postmark in turn; each reply leaves
through the provider the message came in on where that provider sends mail (SendGrid,
Mailgun), else through the company's SMTP server (Postmark's key is not set). A resolve in
the middle: the customer's next answer reopens the same conversation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.inbound.envelope import InboundMessage
from router.models import Conversation, Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.adapters.conftest import Inbound
from tests.console.conftest import Team, bearer
from tests.console.mail_servers import MailServers, SentMail
from tests.console.replies import settled
from tests.email.customer import (
    SUPPORT,
    CustomerMail,
    answering,
    post_mailgun,
    post_postmark,
    post_sendgrid,
)

Post = Callable[[httpx.AsyncClient, CustomerMail], Awaitable[httpx.Response]]
_ID = re.compile(r"<[^<>\s]+>")


class Thread:
    """Drives both sides: the customer's mail in through a webhook, Ada's reply out."""

    def __init__(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        engine: RoutingEngine,
        inbound: Inbound,
        sessions: async_sessionmaker[AsyncSession],
        servers: MailServers,
        team: Team,
    ) -> None:
        self.app, self.client, self.engine = app, client, engine
        self.inbound, self.sessions, self.servers, self.team = inbound, sessions, servers, team
        self.seen: set[str] = set()
        self.conversation: str | None = None

    async def customer_writes(self, post: Post, mail: CustomerMail) -> InboundMessage:
        response = await post(self.client, mail)
        assert response.status_code == 200, response.text
        events = await self.inbound.events(len(self.seen) + 1)
        [event] = [e for e in events if e.event_id not in self.seen]
        assert isinstance(event, InboundMessage)
        self.seen.add(event.event_id)
        await self.engine.process([event])
        return event

    async def ada_takes_it(self) -> str:
        [item] = (
            await self.client.get("/v1/conversations", headers=bearer(self.team.ada_key))
        ).json()["items"]
        if item["offer_state"] == "offered":
            answer = await self.client.post(
                f"/v1/conversations/{item['id']}/accept", headers=bearer(self.team.ada_key)
            )
            assert answer.status_code == 200, answer.text
        return str(item["id"])

    async def ada_replies(self, text: str) -> tuple[SentMail, Message]:
        cid = await self.ada_takes_it()
        before = len(self.servers.sent)
        response = await self.client.post(
            f"/v1/conversations/{cid}/replies",
            headers=bearer(self.team.ada_key),
            json={"text": text},
        )
        assert response.status_code == 202, response.text
        stored = await settled(self.app, self.sessions, response.json()["id"])
        assert stored.delivery_status == "sent", stored.delivery_error
        sent = self.servers.wait_for(before + 1)[before]
        return sent, stored


def _references(sent: SentMail) -> list[str]:
    return _ID.findall(sent.headers["References"])


async def test_a_ten_message_thread_stays_one_conversation_across_providers_and_a_resolve(
    email_api: tuple[FastAPI, httpx.AsyncClient],
    email_settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    inbound: Inbound,
    mail_servers: MailServers,
    team: Team,
) -> None:
    app, client = email_api
    thread = Thread(
        app, client, RoutingEngine(sessions, email_settings), inbound, sessions, mail_servers, team
    )
    first = CustomerMail(
        message_id="<CAF-first.1@mail.example.net>",
        subject="Order 4521 never arrived",
        text="Hello, where is order 4521?",
    )
    turns: list[tuple[Post, str, bool]] = [
        # (the customer's provider, who answers, resolve after the answer)
        (post_sendgrid, "sendgrid", False),
        (post_mailgun, "mailgun", False),
        (post_postmark, "smtp", True),
        (post_sendgrid, "sendgrid", False),
        (post_mailgun, "mailgun", False),
    ]
    keys: set[str] = set()
    conversation_ids: set[str] = set()
    earlier_ids: list[str] = []  # every message of the thread so far, bracketed, in order
    mail = first
    for turn, (post, answerer, resolve_after) in enumerate(turns, start=1):
        event = await thread.customer_writes(post, mail)
        keys.add(event.conversation_key)
        earlier_ids.append(mail.message_id.lower())
        sent, stored = await thread.ada_replies(f"Answer {turn}")
        conversation_ids.add(str(stored.conversation_id))

        assert sent.provider == answerer
        assert stored.provider == answerer
        headers = sent.headers
        assert headers["In-Reply-To"] == mail.message_id.lower()
        assert headers["Message-ID"] == f"<{stored.id}@shop.example>"
        # All bracketed, none bare; the first message first, the message answered last.
        assert " ".join(_references(sent)) == " ".join(headers["References"].split())
        assert _references(sent) == earlier_ids
        assert headers["Subject"] == "Re: Order 4521 never arrived"
        assert headers["From"] == SUPPORT
        assert "Auto-Submitted" not in headers
        assert sent.text.rstrip("\r\n") == f"Answer {turn}"
        earlier_ids.append(headers["Message-ID"])

        if resolve_after:
            cid = str(stored.conversation_id)
            resolved = await client.post(
                f"/v1/conversations/{cid}/resolve", headers=bearer(team.ada_key), json={}
            )
            assert resolved.status_code == 200, resolved.text
        # The customer's mail program answers; one of them adds its own `RE:`.
        subject = "RE: Re: Order 4521 never arrived" if turn == 2 else None
        mail = answering(
            sent,
            f"<CAF-{turn + 1}.{uuid.uuid4().hex[:8]}@mail.example.net>",
            f"Reply {turn + 1}",
            subject,
        )

    assert keys == {"email:caf-first.1@mail.example.net"}
    assert len(conversation_ids) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        directions = (
            await session.scalars(select(Message.direction).order_by(Message.created_at))
        ).all()
        assert directions == ["inbound", "outbound"] * 5
        [conversation] = (await session.scalars(select(Conversation))).all()
        assert conversation.status == "open"
