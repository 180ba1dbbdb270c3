"""Realistic inbound events for tests."""

from __future__ import annotations

import uuid

from router.channels import Channel, IdentityKind
from router.inbound.envelope import CustomerIdentity, InboundMessage


def sms(
    text: str = "Hi, my order #4521 hasn't arrived yet",
    *,
    sender: str = "+14155550199",
    recipient: str = "+14155550100",
    provider_message_id: str | None = None,
) -> InboundMessage:
    return InboundMessage(
        channel=Channel.SMS,
        provider="twilio",
        provider_message_id=provider_message_id or f"SM{uuid.uuid4().hex}",
        conversation_key=f"sms:{sender}|{recipient}",
        customer=CustomerIdentity(kind=IdentityKind.PHONE, value=sender),
        recipient=recipient,
        text=text,
        stripped_text=text,
    )


def email(
    text: str = "Where is my invoice?",
    *,
    sender: str = "ada@example.com",
    recipient: str = "support@shop.example",
    thread: str | None = None,
    subject: str = "Invoice",
) -> InboundMessage:
    message_id = f"<{uuid.uuid4().hex}@mail.example.com>"
    return InboundMessage(
        channel=Channel.EMAIL,
        provider="postmark",
        provider_message_id=message_id,
        conversation_key=f"email:{thread or message_id}",
        customer=CustomerIdentity(kind=IdentityKind.EMAIL, value=sender, display_name="Ada"),
        recipient=recipient,
        subject=subject,
        text=text,
        stripped_text=text,
    )
