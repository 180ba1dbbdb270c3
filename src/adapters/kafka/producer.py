"""Publishing inbound events to Kafka: acks from every in-sync replica, idempotent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from router.errors import TransportUnavailable
from router.inbound.envelope import encode, partition_key
from router.inbound.ports import Event
from router.settings import Settings

log = logging.getLogger(__name__)


def create_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.kafka_client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        request_timeout_ms=max(1000, int(settings.publish_timeout_seconds * 1000)),
    )


class KafkaPublisher:
    """The Kafka transport: a webhook is answered only once the broker has its events."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_inbound
        self._deadline = settings.publish_timeout_seconds
        self._producer = create_producer(settings)

    async def start(self) -> None:
        await self._producer.start()

    async def publish(self, events: Sequence[Event]) -> None:
        """Send every event and wait for all acknowledgements within the deadline."""
        try:
            async with asyncio.timeout(self._deadline):
                pending = [
                    await self._producer.send(
                        self._topic, value=encode(event), key=partition_key(event)
                    )
                    for event in events
                ]
                await asyncio.gather(*pending)
        except TimeoutError:
            raise TransportUnavailable(
                f"the broker did not acknowledge within {self._deadline:g} s"
            ) from None
        except KafkaError as error:
            raise TransportUnavailable(f"the broker refused the event: {error}") from None

    async def check(self) -> None:
        """Ask the cluster for fresh metadata; raise when no broker answers in time."""
        client = self._producer.client
        async with asyncio.timeout(2):
            await client.fetch_all_metadata()

    async def close(self) -> None:
        await stop_producer(self._producer, self._deadline)


async def stop_producer(producer: AIOKafkaProducer, deadline: float) -> None:
    """Flush what is pending, but never wait past `deadline` seconds for it.

    With the broker gone, batches that can never be acknowledged would hold shutdown forever.
    A webhook whose events were not acknowledged was answered 503, so the provider retries
    it, and an outbox row is marked published only after its send was acknowledged: ending
    the sender loses nothing that was promised.
    """
    stopping = asyncio.create_task(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=deadline)
    if done:
        return
    log.warning("the broker did not take the pending records; closing without them")
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None:
        task.cancel()
    await asyncio.wait({stopping}, timeout=deadline)
    if not stopping.done():
        stopping.cancel()


class RecordPublisher:
    """Publishes prepared records (topic, key, value) and waits for every acknowledgement."""

    def __init__(self, settings: Settings, client_suffix: str) -> None:
        self._deadline = settings.publish_timeout_seconds
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=f"{settings.kafka_client_id}-{client_suffix}",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def publish_all(self, records: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Send the records in order; return once all are acknowledged, raise otherwise."""
        async with asyncio.timeout(self._deadline):
            pending = [
                await self._producer.send(topic, value=value, key=key)
                for topic, key, value in records
            ]
            await asyncio.gather(*pending)

    async def close(self) -> None:
        await stop_producer(self._producer, self._deadline)
