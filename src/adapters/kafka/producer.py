"""Publishing inbound events to Kafka: acks from every in-sync replica, idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from router.errors import TransportUnavailable
from router.inbound.envelope import encode, partition_key
from router.inbound.ports import Event
from router.settings import Settings


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
        await self._producer.stop()
