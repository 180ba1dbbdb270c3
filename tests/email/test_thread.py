"""A ten-message email thread, both ways, through the real parsers, engine and senders.

The customer writes through SendGrid, Mailgun and Postmark in turn; each reply leaves
through the provider the message came in on where that provider sends mail (SendGrid,
Mailgun), else through the company's SMTP server (Postmark's key is not set). A resolve in
the middle: the customer's next answer reopens the same conversation.
"""

from __future__ import annotations

import re
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.models import Conversation, Message
from router.routing.engine import RoutingEngine
from router.settings import Settings
from tests.adapters.conftest import Inbound
from tests.console.conftest import Team, bearer
from tests.console.mail_servers import MailServers, SentMail
from tests.email.customer import (
    SUPPORT,
    CustomerMail,
    answering,
    post_mailgun,
    post_postmark,
    post_sendgrid,
)
from tests.email.thread import Post, Thread

_ID = re.compile(r"<[^<>\s]+>")


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
