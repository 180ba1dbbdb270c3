"""WhatsApp's customer-service window: free text only within 24 h of the customer's message.

Meta (and Twilio for WhatsApp) refuse a free-form message sent later than 24 hours after the
customer's last message; only an approved template may go then. The router refuses such a
reply before storing it, so the agent learns it at once rather than from a failed delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.channels import Channel
from router.errors import ProblemError
from router.models import Message

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class WhatsAppWindowClosed(ProblemError):
    status = 409
    problem = "whatsapp-window-closed"
    title = "WhatsApp's 24-hour customer-service window is closed"


async def last_customer_message_at(
    session: AsyncSession, conversation_id: uuid.UUID
) -> datetime | None:
    """When the customer last wrote on WhatsApp in this conversation (None: never).

    The provider's time counts (the window runs from when the customer sent it), but never
    later than when it reached us, so a provider clock running ahead never widens it.
    """
    sent_at = func.least(
        func.coalesce(Message.provider_timestamp, Message.received_at), Message.received_at
    )
    latest: datetime | None = await session.scalar(
        select(func.max(sent_at)).where(
            Message.conversation_id == conversation_id,
            Message.direction == "inbound",
            Message.channel == Channel.WHATSAPP.value,
        )
    )
    return latest


def require_open_window(last_customer_message: datetime | None, now: datetime) -> None:
    """Refuse free text on WhatsApp outside the window (409, naming when it closed)."""
    if last_customer_message is None:
        raise WhatsAppWindowClosed(
            "the customer has not written on WhatsApp yet, so no customer-service window is"
            " open: only an approved template can be sent",
            window_closed_at=None,
        )
    closed_at = last_customer_message + CUSTOMER_SERVICE_WINDOW
    if now >= closed_at:
        raise WhatsAppWindowClosed(
            f"WhatsApp's 24-hour customer-service window closed at {closed_at.isoformat()}"
            " (24 h after the customer's last message): only an approved template can be sent",
            window_closed_at=closed_at.isoformat(),
        )
