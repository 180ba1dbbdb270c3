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


def whatsapp(text: str) -> InboundMessage:
    """A WhatsApp Cloud API text from +16505551234 to our line 106540352242922."""
    return InboundMessage(
        channel=Channel.WHATSAPP,
        provider="meta",
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        conversation_key="whatsapp:106540352242922|16505551234",
        customer=CustomerIdentity(kind=IdentityKind.WHATSAPP, value="+16505551234"),
        recipient="106540352242922",
        text=text,
        stripped_text=text,
    )


def messenger(text: str) -> InboundMessage:
    """A Messenger text from PSID 6789012345 to page 1234567890."""
    return InboundMessage(
        channel=Channel.MESSENGER,
        provider="meta",
        provider_message_id=f"m_{uuid.uuid4().hex}",
        conversation_key="messenger:1234567890|6789012345",
        customer=CustomerIdentity(kind=IdentityKind.MESSENGER, value="6789012345"),
        recipient="1234567890",
        text=text,
        stripped_text=text,
    )
