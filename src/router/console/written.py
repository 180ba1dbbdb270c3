"""A message an agent wrote, stored as a queued outbound message: a reply or a first message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from router.console.schemas import TemplateRequest
from router.inbound.envelope import DeliveryStatus
from router.models import Message


class Written(Protocol):
    """What the agent wrote: a text, or (WhatsApp) an approved template."""

    @property
    def text(self) -> str | None: ...

    @property
    def template(self) -> TemplateRequest | None: ...


def queued_message(
    written: Written,
    *,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    channel: str,
    provider: str,
    sender: str | None,
    recipient: str | None,
    author_agent_id: uuid.UUID | None,
    subject: str | None,
    attachments: list[dict[str, Any]],
    details: dict[str, object],
    now: datetime,
) -> Message:
    """The outbound message row, queued: its sender takes it after the transaction commits.

    A template is kept in `details.template` for the sender, and as readable text for people.
    """
    text = written.text or ""
    if written.template is not None:
        details = {**details, "template": written.template.stored()}
        text = written.template.readable()
    return Message(
        id=message_id,
        conversation_id=conversation_id,
        direction="outbound",
        kind="template" if written.template is not None else "text",
        channel=channel,
        provider=provider,
        sender=sender,
        recipient=recipient,
        author_agent_id=author_agent_id,
        subject=subject,
        text=text,
        stripped_text=text,
        attachments=attachments,
        details=details,
        delivery_status=DeliveryStatus.QUEUED.value,
        received_at=now,
        created_at=now,
    )
