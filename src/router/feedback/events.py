"""`router.feedback.received`: an answer to a survey, published from the outbox after commit."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

EVENT_TYPE = "router.feedback.received"

_EVENT_ID_PREFIX = uuid.uuid4().hex
_event_numbers = itertools.count(1)


@dataclass(frozen=True)
class Received:
    """One stored answer, as the event and the API show it."""

    feedback_id: uuid.UUID
    survey_id: uuid.UUID
    conversation_id: uuid.UUID
    resolution: int
    agent_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    channel: str
    kind: str
    score: int
    comment: str | None
    received_at: datetime


def cloud_event(answer: Received) -> bytes:
    """The answer as a CloudEvents 1.0 JSON document (key on the topic: the conversation id)."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{_EVENT_ID_PREFIX}-{next(_event_numbers)}",
            "source": "/router",
            "type": EVENT_TYPE,
            "time": answer.received_at,
            "subject": str(answer.conversation_id),
            "datacontenttype": "application/json",
            "data": {
                "feedback_id": str(answer.feedback_id),
                "survey_id": str(answer.survey_id),
                "conversation_id": str(answer.conversation_id),
                "resolution": answer.resolution,
                "agent_id": str(answer.agent_id) if answer.agent_id else None,
                "queue_id": str(answer.queue_id) if answer.queue_id else None,
                "channel": answer.channel,
                "kind": answer.kind,
                "score": answer.score,
                "comment": answer.comment,
                "received_at": answer.received_at,
            },
        }
    )


_INSERT_FEEDBACK = """
WITH stored AS (
    INSERT INTO feedback (id, survey_id, conversation_id, resolution, agent_id, queue_id,
                          channel, kind, score, comment, received_at)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::uuid[], $6::uuid[],
                         $7::text[], $8::text[], $9::int[], $10::text[], $11::timestamptz[])
    ON CONFLICT (survey_id) DO NOTHING
    RETURNING id, survey_id
)
UPDATE feedback_surveys SET answered_at = $12
FROM stored WHERE feedback_surveys.id = stored.survey_id
RETURNING stored.id
"""
_INSERT_OUTBOX = """
INSERT INTO outbox (topic, key, value)
SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS u(k, v)
"""


async def store(
    connection: Any, answers: list[Received], now: datetime, events_topic: str | None
) -> list[Received]:
    """Store answers (one per survey: a second one is ignored) and queue their events.

    `connection` is the transaction's asyncpg connection; returns the answers stored.
    """
    if not answers:
        return []
    columns = (
        [a.feedback_id for a in answers],
        [a.survey_id for a in answers],
        [a.conversation_id for a in answers],
        [a.resolution for a in answers],
        [a.agent_id for a in answers],
        [a.queue_id for a in answers],
        [a.channel for a in answers],
        [a.kind for a in answers],
        [a.score for a in answers],
        [a.comment for a in answers],
        [a.received_at for a in answers],
    )
    stored_ids = {row[0] for row in await connection.fetch(_INSERT_FEEDBACK, *columns, now)}
    stored = [answer for answer in answers if answer.feedback_id in stored_ids]
    if stored and events_topic is not None:
        await connection.execute(
            _INSERT_OUTBOX,
            events_topic,
            [str(answer.conversation_id).encode() for answer in stored],
            [cloud_event(answer) for answer in stored],
        )
    return stored
