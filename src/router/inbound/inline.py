"""The inline transport: with no Kafka configured, a webhook routes inside its request.

It hands the very same envelopes to the very same processor the Kafka consumer calls, so the
embedded default behaves like production, only without a broker in between.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.db import is_unreachable
from router.errors import TransportUnavailable
from router.inbound.envelope import decode, encode
from router.inbound.ports import Event, InboundProcessor


class InlinePublisher:
    name = "inline"

    def __init__(self, processor: InboundProcessor) -> None:
        self._processor = processor

    async def start(self) -> None:
        return None

    async def publish(self, events: Sequence[Event]) -> None:
        """Route and persist the events before the webhook is answered."""
        # A round trip through the wire format keeps both transports byte-for-byte alike.
        wire = [decode(encode(event)) for event in events]
        try:
            await self._processor.process(wire)
        except Exception as error:
            if not is_unreachable(error):
                raise
            raise TransportUnavailable(f"the database is unavailable: {error}") from None

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None
