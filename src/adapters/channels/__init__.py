"""Channel adapters: one webhook route per provider, each producing inbound envelopes."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.channels.email import email_routers
from adapters.channels.meta import router as meta_router
from adapters.channels.twilio import router as twilio_router
from adapters.channels.twilio_calls import router as twilio_calls_router
from adapters.channels.twilio_voice import router as twilio_voice_router
from adapters.channels.webchat import router as webchat_router


def webhook_routers() -> list[APIRouter]:
    """Every provider's webhook router, for the app to include."""
    routers: list[APIRouter] = []
    routers.extend(email_routers())
    routers.extend(
        [webchat_router, meta_router, twilio_router, twilio_voice_router, twilio_calls_router]
    )
    return routers
