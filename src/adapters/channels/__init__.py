"""Channel adapters: one webhook route per provider, each producing inbound envelopes."""

from __future__ import annotations

from fastapi import APIRouter


def webhook_routers() -> list[APIRouter]:
    """Every provider's webhook router, for the app to include."""
    routers: list[APIRouter] = []
    return routers
