"""Fixtures for webhook tests: the real app on a real Kafka broker, and a topic reader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from adapters.kafka.topics import ensure_topics
from router.inbound.envelope import Event, decode
from router.settings import Settings
from tests.support import app_client

SECRETS = {
    "sendgrid_inbound_token": "test_sendgrid_token",
    "mailgun_signing_key": "test_mailgun_signing_key",
    "postmark_inbound_token": "test_postmark_token",
    "webchat_secret": "test_webchat_secret",
    "meta_app_secret": "test_meta_app_secret",
    "meta_verify_token": "test_meta_verify_token",
    "twilio_auth_token": "12345",
}


@dataclass
class Inbound:
    """Reads back what the webhooks published on the inbound topic."""

    settings: Settings

    async def records(self, expected: int, timeout_ms: int = 10_000) -> list[Any]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign(
                [
                    TopicPartition(self.settings.topic_inbound, p)
                    for p in range(self.settings.topic_partitions)
                ]
            )
            await consumer.seek_to_beginning()
            found: list[Any] = []
            waited = 0
            while len(found) < expected and waited < timeout_ms:
                batch = await consumer.getmany(timeout_ms=500)
                waited += 500
                found.extend(record for records in batch.values() for record in records)
            # Give a straggler a moment, so "exactly N" means exactly N.
            batch = await consumer.getmany(timeout_ms=300)
            found.extend(record for records in batch.values() for record in records)
            return found
        finally:
            await consumer.stop()

    async def events(self, expected: int) -> list[Event]:
        return [decode(record.value) for record in await self.records(expected)]


@pytest.fixture
def webhook_settings(settings: Settings) -> Settings:
    """Settings with every provider's test secret and the public URL the samples were sent to."""
    return settings.model_copy(
        update={
            **{name: _secret(value) for name, value in SECRETS.items()},
            "public_base_url": "https://router.example.test",
        }
    )


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@pytest.fixture
async def client(webhook_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await ensure_topics(webhook_settings)
    async with app_client(webhook_settings) as (_, http):
        yield http


@pytest.fixture
def inbound(webhook_settings: Settings) -> Inbound:
    return Inbound(webhook_settings)
