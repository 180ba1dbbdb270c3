"""The routing engine's hook for survey answers: a score on a resolved conversation's thread.

Set-based: one query per batch finds the pending surveys of the batch's resolved
conversations (none when the batch has no message on one), and one statement stores the
answers. An answer is stored with its conversation but never reopens or routes it; a message
that is not an answer in range goes on as any customer message does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from router.channels import Channel
from router.feedback import events
from router.feedback.policy import ANSWERED_BY_MESSAGE, Answer, SurveyKind, read_answer
from router.inbound.envelope import DeliveryStatus, InboundMessage, MessageKind
from router.jsontext import compact_json
from router.models import ConversationStatus
from router.outbound.automatic import automatic_details
from router.routing.records import ConversationRecord

MessageKey = tuple[str, str]


@dataclass(frozen=True)
class SurveyAnswer:
    survey: Mapping[str, Any]
    answer: Answer
    received_at: datetime


_PENDING = """
SELECT id, conversation_id, resolution, resolved_at, agent_id, queue_id, channel, kind, thanks,
       provider, via, sender, recipient
FROM feedback_surveys
WHERE conversation_id = ANY($1::uuid[]) AND NOT by_link AND message_id IS NOT NULL
  AND answered_at IS NULL AND expires_at > $2
"""


def key_of(message: InboundMessage) -> MessageKey:
    """How the engine and this hook name a message of the batch."""
    return (message.provider, message.provider_message_id)


async def survey_answers(
    connection: Any,
    messages: Iterable[InboundMessage],
    by_thread: Mapping[str, ConversationRecord],
    now: datetime,
) -> dict[MessageKey, SurveyAnswer]:
    """The batch's messages that answer a pending survey, in order: the first answer wins."""
    candidates: list[tuple[InboundMessage, ConversationRecord]] = []
    for message in messages:
        conversation = by_thread.get(message.conversation_key)
        if (
            conversation is not None
            and conversation.status == ConversationStatus.RESOLVED
            and message.kind is MessageKind.TEXT
            and message.automated is None
            and message.channel in ANSWERED_BY_MESSAGE
            and conversation.channel == message.channel.value
        ):
            candidates.append((message, conversation))
    if not candidates:
        return {}
    rows = await connection.fetch(
        _PENDING, list({conversation.id for _, conversation in candidates}), now
    )
    pending = {row["conversation_id"]: row for row in rows}
    found: dict[MessageKey, SurveyAnswer] = {}
    for message, conversation in candidates:
        survey = pending.get(conversation.id)
        # Only the survey of the resolution in force: a reopen and a new resolve start anew.
        if survey is None or survey["resolved_at"] != conversation.resolved_at:
            continue
        answer = read_answer(message.text, SurveyKind(survey["kind"]))
        if answer is None:
            continue
        del pending[conversation.id]
        found[key_of(message)] = SurveyAnswer(survey, answer, message.received_at)
    return found


_INSERT_THANKS = """
WITH thanks AS (
    INSERT INTO messages (id, conversation_id, direction, kind, channel, provider, sender,
                          recipient, text, stripped_text, details, delivery_status,
                          received_at, created_at)
    SELECT m, c, 'outbound', 'text', ch, p, s, r, t, t, d::jsonb, $10, $11, $11
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::uuid[]) AS u(m, c, ch, p, s, r, t, d, survey)
    RETURNING id
)
UPDATE feedback_surveys SET thanks_message_id = u.m
FROM unnest($1::uuid[], $9::uuid[]) AS u(m, survey)
WHERE feedback_surveys.id = u.survey
"""


async def record_answers(
    connection: Any,
    answers: Mapping[MessageKey, SurveyAnswer],
    now: datetime,
    events_topic: str | None,
) -> None:
    """Store the answers, queue `feedback.received` and each customer's thank-you message."""
    if not answers:
        return
    stored = await events.store(
        connection,
        [
            events.Received(
                feedback_id=uuid.uuid4(),
                survey_id=found.survey["id"],
                conversation_id=found.survey["conversation_id"],
                resolution=found.survey["resolution"],
                agent_id=found.survey["agent_id"],
                queue_id=found.survey["queue_id"],
                channel=found.survey["channel"],
                kind=found.survey["kind"],
                score=found.answer.score,
                comment=found.answer.comment,
                received_at=found.received_at,
            )
            for found in answers.values()
        ],
        now,
        events_topic,
    )
    if not stored:
        return
    surveys = {found.survey["id"]: found.survey for found in answers.values()}
    thanked = [surveys[answer.survey_id] for answer in stored]
    details = [
        compact_json(
            {"via": s["via"], "survey_id": str(s["id"]), **automatic_details(answering=True)}
        )
        for s in thanked
    ]
    await connection.execute(
        _INSERT_THANKS,
        [uuid.uuid4() for _ in thanked],
        [s["conversation_id"] for s in thanked],
        [Channel(s["channel"]).value for s in thanked],
        [s["provider"] for s in thanked],
        [s["sender"] for s in thanked],
        [s["recipient"] for s in thanked],
        [s["thanks"] for s in thanked],
        details,
        [s["id"] for s in thanked],
        DeliveryStatus.QUEUED.value,
        now,
    )
