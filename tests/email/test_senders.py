"""Every email sender writes the same mail: threading headers, Auto-Submitted, attachments."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.outbound.mailgun import MailgunSender
from adapters.outbound.postmark import PostmarkSender
from adapters.outbound.sendgrid import SendGridSender
from adapters.outbound.smtp import SmtpSender, SmtpServer
from devstack.net import free_port
from router.channels import Channel
from router.outbound.email_thread import reply_thread
from router.outbound.ports import DeliveryError, OutboundFile, OutboundReply, OutboundSender
from tests.console.mail_servers import (
    MAILGUN_KEY,
    POSTMARK_TOKEN,
    SENDGRID_KEY,
    SMTP_PASSWORD,
    SMTP_USER,
    MailServers,
)

ROW = uuid.UUID("0b7f0f5e-3a53-4d36-8d3e-0c8a8f7f1a21")
FILES = (
    OutboundFile(filename="label.pdf", content_type="application/pdf", content=b"%PDF-1.7\x00\xff"),
    OutboundFile(filename="notes.txt", content_type="text/plain", content="café\n".encode()),
)
# A long thread: the first message and then twenty more.
THREAD = reply_thread(
    "parent.20@mail.example.net",
    [f"message-{n}.{'x' * 30}@mail.example.net" for n in range(20)],
)


def _reply(**changes: object) -> OutboundReply:
    values: dict[str, object] = {
        "message_id": ROW,
        "channel": Channel.EMAIL,
        "to": "maria@example.net",
        "sender": "support@shop.example",
        "text": "Your label is attached.",
        "subject": "Re: Order 4521",
        "email_message_id": f"{ROW}@mail.shop.example",
        "in_reply_to": THREAD.in_reply_to,
        "references": THREAD.references,
        "files": FILES,
        **changes,
    }
    return OutboundReply(**values)  # type: ignore[arg-type]


def _smtp(servers: MailServers, password: str = SMTP_PASSWORD, **changes: object) -> SmtpSender:
    server = {
        "host": "127.0.0.1",
        "port": servers.smtp_port,
        "security": "none",
        "username": SMTP_USER,
        "password": password,
        "timeout_seconds": 5.0,
        **changes,
    }
    return SmtpSender(SmtpServer(**server))  # type: ignore[arg-type]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def _senders(http: httpx.AsyncClient, servers: MailServers) -> dict[str, OutboundSender]:
    return {
        "postmark": PostmarkSender(http, servers.base_url, POSTMARK_TOKEN, "outbound"),
        "sendgrid": SendGridSender(http, servers.base_url, SENDGRID_KEY),
        "mailgun": MailgunSender(http, servers.base_url, MAILGUN_KEY, None),
        "smtp": _smtp(servers),
    }


@pytest.mark.parametrize("provider", ["postmark", "sendgrid", "mailgun", "smtp"])
async def test_every_sender_writes_the_thread_the_marks_and_the_files(
    http: httpx.AsyncClient, mail_servers: MailServers, provider: str
) -> None:
    sender = _senders(http, mail_servers)[provider]
    sent = await sender.send(_reply(auto_submitted="auto-replied"))
    [mail] = mail_servers.wait_for(1)
    assert mail.provider == provider
    headers = mail.headers
    assert headers["Message-ID"] == f"<{ROW}@mail.shop.example>"
    assert headers["In-Reply-To"] == "<parent.20@mail.example.net>"
    references = " ".join(headers["References"].split())
    assert references == " ".join(f"<{value}>" for value in THREAD.references)
    assert references.startswith("<message-0.")
    assert references.endswith(
        "<message-19." + "x" * 30 + "@mail.example.net> <parent.20@mail.example.net>"
    )
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["Subject"] == "Re: Order 4521"
    assert mail.text.rstrip("\r\n") == "Your label is attached."
    assert mail.attachments == [(f.filename, f.content_type, f.content) for f in FILES]
    if provider != "postmark":  # Postmark's own id names the message there
        assert sent.provider_message_id == f"{ROW}@mail.shop.example"


async def test_an_agents_reply_carries_no_auto_submitted(
    http: httpx.AsyncClient, mail_servers: MailServers
) -> None:
    for sender in _senders(http, mail_servers).values():
        await sender.send(_reply(files=()))
    for mail in mail_servers.wait_for(4):
        assert "Auto-Submitted" not in mail.headers
        assert mail.attachments == []


async def test_smtp_writes_folded_crlf_mime(mail_servers: MailServers) -> None:
    await _smtp(mail_servers).send(_reply(auto_submitted="auto-generated"))
    [mail] = mail_servers.wait_for(1)
    head = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert re.search(rb"^References: <message-0\.", head, re.MULTILINE)
    assert b"Auto-Submitted: auto-generated" in head
    assert b"Content-Type: multipart/mixed" in head


async def test_smtp_refusals_are_final_and_outages_are_retried(mail_servers: MailServers) -> None:
    with pytest.raises(DeliveryError) as refused:
        await _smtp(mail_servers, password="wrong").send(_reply())
    assert not refused.value.retryable
    assert refused.value.detail.startswith("smtp answered 535")
    with pytest.raises(DeliveryError) as no_tls:
        await _smtp(mail_servers, security="starttls").send(_reply())
    assert not no_tls.value.retryable
    with pytest.raises(DeliveryError) as unreachable:
        await _smtp(mail_servers, port=free_port()).send(_reply())
    assert unreachable.value.retryable
    assert mail_servers.sent == []


async def test_api_refusals_name_the_provider(
    http: httpx.AsyncClient, mail_servers: MailServers
) -> None:
    wrong = {
        "sendgrid": SendGridSender(http, mail_servers.base_url, "SG.wrong"),
        "mailgun": MailgunSender(http, mail_servers.base_url, "wrong", "shop.example"),
    }
    for provider, sender in wrong.items():
        with pytest.raises(DeliveryError) as refused:
            await sender.send(_reply())
        assert refused.value.detail.startswith(f"{provider} answered 401")
        assert not refused.value.retryable
