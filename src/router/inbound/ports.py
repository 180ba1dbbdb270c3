"""The ports the domain needs from whatever carries inbound events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from router.inbound.envelope import Event

__all__ = ["Event", "InboundProcessor", "InboundPublisher"]


class InboundPublisher(Protocol):
    """Takes a webhook's events durably, or raises `TransportUnavailable`.

    Returning means the events are safe: acknowledged by every in-sync Kafka replica, or,
    with the inline transport, routed and committed to the database.
    """

    name: str

    async def start(self) -> None: ...

    async def publish(self, events: Sequence[Event]) -> None: ...

    async def check(self) -> None:
        """Raise when the transport cannot take events now (for readiness)."""
        ...

    async def close(self) -> None: ...


class InboundProcessor(Protocol):
    """Applies a batch of inbound events to the router's state in one transaction."""

    async def process(self, events: Sequence[Event]) -> None: ...
