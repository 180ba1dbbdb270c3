"""Signed webhooks across every provider at a steady rate, re-sent as providers re-send.

The requests are the bench's (`bench.payloads.Traffic`, signed with each provider's recipe)
on the bench's lean keep-alive client. A share of them is delivered again three times, as
providers do when they are unsure an event arrived; any answer other than 2xx or a
refusal (4xx) is retried with growing back-off, as providers retry. Every answer is kept
with the message it carried.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.httpclient import Client, ConnectionClosed
from bench.payloads import Secrets, Traffic, Webhook

from chaos.checks import Answered

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
RESEND_DELAYS = ((1.0, 3.0), (5.0, 10.0), (15.0, 25.0))


@dataclass
class Sent:
    """One webhook and the status of each of its deliveries (0: no answer)."""

    webhook: Webhook
    statuses: list[int] = field(default_factory=list)


def retried(status: int) -> bool:
    """Whether a provider sends the request again after this answer."""
    return status == 0 or status == 429 or status >= 500


class WebhookLoad:
    """Sends `rate` webhooks a second for `duration` seconds, plus re-sends and retries."""

    def __init__(
        self,
        secrets: Secrets,
        port: int,
        *,
        rate: float,
        duration: float,
        seed: int,
        resend_share: float = 0.1,
        follow_ups: float = 0.5,
    ) -> None:
        self.traffic = Traffic(
            secrets, seed=seed, tag=f"c{seed % 100_000:05d}", follow_ups=follow_ups
        )
        self.client = Client("127.0.0.1", port, 512)
        self.rate = rate
        self.duration = duration
        self.resend_share = resend_share
        self.rng = random.Random(seed + 1)
        self.sent: list[Sent] = []
        self.in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def _deliver(self, raw: bytes) -> int:
        self.in_flight += 1
        try:
            return await asyncio.wait_for(self.client.request(raw), 30.0)
        except (OSError, ConnectionClosed, TimeoutError):
            return 0
        finally:
            self.in_flight -= 1

    async def _one(self, item: Sent, raw: bytes, resends: tuple[float, ...]) -> None:
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            status = await self._deliver(raw)
            item.statuses.append(status)
            if not retried(status) or delay is None:
                break
            await asyncio.sleep(delay * (0.5 + self.rng.random()) if attempt else delay)
        for wait in resends:
            await asyncio.sleep(wait)
            item.statuses.append(await self._deliver(raw))

    def _spawn(self, item: Sent, raw: bytes) -> None:
        resends: tuple[float, ...] = ()
        if item.webhook.message is not None and self.rng.random() < self.resend_share:
            resends = tuple(self.rng.uniform(*span) for span in RESEND_DELAYS)
        task = asyncio.get_running_loop().create_task(self._one(item, raw, resends))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, started: float) -> None:
        """Send on schedule from `started` (monotonic), then wait for re-sends and retries."""
        interval = 1.0 / self.rate
        index = 0
        while True:
            scheduled = started + index * interval
            if scheduled >= started + self.duration:
                break
            webhook = self.traffic.next()
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            item = Sent(webhook)
            self.sent.append(item)
            self._spawn(item, webhook.raw())
            index += 1
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        self.client.close()

    def answers(self) -> list[Answered]:
        """Every message-carrying webhook with its answers, for the storage check."""
        return [
            Answered(item.webhook.message[0], item.webhook.message[1], tuple(item.statuses))
            for item in self.sent
            if item.webhook.message is not None
        ]

    def record(self) -> list[dict[str, object]]:
        """Every webhook sent: its source, the message it carried, each delivery's answer."""
        return [
            {
                "source": item.webhook.source,
                "message": list(item.webhook.message) if item.webhook.message else None,
                "statuses": item.statuses,
            }
            for item in self.sent
        ]

    def status_counts(self) -> Counter[str]:
        """Answers by kind: 2xx, 503, and each other status (0: no answer)."""
        counts: Counter[str] = Counter()
        for item in self.sent:
            for status in item.statuses:
                key = "2xx" if 200 <= status < 300 else str(status)
                counts[key] += 1
        return counts

    def progress(self) -> str:
        """A short status for the progress line."""
        return f"sent {len(self.sent)}, in flight {self.in_flight}"
