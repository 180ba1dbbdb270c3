"""Create the router's topics with the configured partitions; safe to run every start."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from router.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings) -> None:
    """Create the inbound, events and dead-letter topics unless they already exist."""
    assert settings.kafka_bootstrap_servers
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_id}-admin",
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
            )
            for name in (settings.topic_inbound, settings.topic_events, settings.topic_dlq)
            if name not in existing
        ]
        if not wanted:
            return
        try:
            response = await admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            return
        for name, code, *_ in getattr(response, "topic_errors", []):
            # 36 = TOPIC_ALREADY_EXISTS: another process created it first.
            if code not in (0, 36):
                raise RuntimeError(f"could not create topic {name}: error code {code}")
        log.info("created topics", extra={"topics": [t.name for t in wanted]})
    finally:
        await admin.close()
