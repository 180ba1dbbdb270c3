"""Mail the router sends by itself says so (Auto-Submitted); an agent's reply does not."""

from __future__ import annotations

import uuid

import httpx

from adapters.outbound.postmark import PostmarkSender
from router.channels import Channel
from router.outbound.automatic import automatic_details, may_answer_automatically
from router.outbound.ports import OutboundReply
from tests.console import providers
from tests.console.providers import FakeProviders


def _reply(**extra: str) -> OutboundReply:
    return OutboundReply(
        message_id=uuid.UUID("0b7f0f5e-3a53-4d36-8d3e-0c8a8f7f1a21"),
        channel=Channel.EMAIL,
        to="ada@example.com",
        sender="Support <support@shop.example>",
        text="We got your message.",
        subject="Invoice",
        **extra,  # type: ignore[arg-type]
    )


async def _sent_headers(fake: FakeProviders, reply: OutboundReply) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        sender = PostmarkSender(client, fake.base_url, providers.POSTMARK_TOKEN, "outbound")
        await sender.send(reply)
    [request] = fake.wait_for(1)
    fake.reset()
    return {item["Name"]: item["Value"] for item in request.json()["Headers"]}


async def test_an_automatic_message_carries_auto_submitted(fake_providers: FakeProviders) -> None:
    answering = automatic_details(answering=True)["auto_submitted"]
    headers = await _sent_headers(fake_providers, _reply(auto_submitted=answering))
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["Message-ID"] == "<0b7f0f5e-3a53-4d36-8d3e-0c8a8f7f1a21@shop.example>"
    notice = automatic_details(answering=False)["auto_submitted"]
    headers = await _sent_headers(fake_providers, _reply(auto_submitted=notice))
    assert headers["Auto-Submitted"] == "auto-generated"


async def test_an_agents_reply_carries_no_auto_submitted(fake_providers: FakeProviders) -> None:
    headers = await _sent_headers(fake_providers, _reply())
    assert "Auto-Submitted" not in headers
    assert headers["Message-ID"].endswith("@shop.example>")


def test_automatic_messages_never_answer_auto_replies_bounces_or_addressless_senders() -> None:
    assert may_answer_automatically({"message_id": "q1@example.net"})
    assert not may_answer_automatically({"automated": "auto_reply"})
    assert not may_answer_automatically({"automated": "bounce"})
    assert not may_answer_automatically({"sender_identity": "message-id"})
