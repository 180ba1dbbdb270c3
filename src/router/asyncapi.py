"""The AsyncAPI 3.0 document of the router's topics, generated from the envelope models.

`python -m router.asyncapi` writes `openapi/asyncapi.json`; a test fails when it drifts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from router import __version__
from router.inbound.envelope import CloudEvent
from router.settings import Settings

TARGET = Path(__file__).resolve().parents[2] / "openapi" / "asyncapi.json"

_CONVERSATION_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 structured JSON; `type` is router.conversation.<change>.",
    "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string"},
        "source": {"const": "/router"},
        "type": {
            "enum": [
                f"router.conversation.{change}"
                for change in (
                    "created",
                    "queued",
                    "offered",
                    "accepted",
                    "declined",
                    "offer_timed_out",
                    "offer_revoked",
                    "reassigned",
                    "transferred",
                    "escalated",
                    "resolved",
                    "reopened",
                    "call_ended",
                    "requeued",
                    "reply_overdue",
                    "overflowed",
                    "customer_merged",
                    "customer_unmerged",
                    "reply_failed",
                    "reply_retried",
                    "sla.at_risk",
                    "sla.breached",
                )
            ]
        },
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string", "description": "the conversation id"},
        "datacontenttype": {"const": "application/json"},
        "data": {
            "type": "object",
            "required": ["conversation_id", "change", "actor", "reason", "occurred_at"],
            "properties": {
                "conversation_id": {"type": "string", "format": "uuid"},
                "change": {"type": "string"},
                "actor": {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": ["system", "customer", "agent", "supervisor"]},
                        "id": {"type": ["string", "null"]},
                    },
                },
                "agent_id": {"type": ["string", "null"], "format": "uuid"},
                "queue_id": {"type": ["string", "null"], "format": "uuid"},
                "reason": {"type": "string"},
                "details": {
                    "type": "object",
                    "description": (
                        "for offers: the rule matched and every candidate considered; for"
                        " sla.at_risk and sla.breached: target, policy, policy_version,"
                        " started_at and due_at"
                    ),
                },
                "occurred_at": {"type": "string", "format": "date-time"},
            },
        },
    },
}


_PRESENCE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": (
        "CloudEvents 1.0 structured JSON: an agent's presence changed (kept in the presence "
        "history, written in the same transaction as the change)."
    ),
    "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string"},
        "source": {"const": "/router"},
        "type": {"const": "router.agent.presence_changed"},
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string", "description": "the agent id"},
        "datacontenttype": {"const": "application/json"},
        "data": {
            "type": "object",
            "required": ["agent_id", "change_id", "from", "to", "actor", "changed_at"],
            "properties": {
                "agent_id": {"type": "string", "format": "uuid"},
                "change_id": {"type": "integer", "description": "the presence history row"},
                "from": {"enum": ["online", "away", "offline"]},
                "to": {"enum": ["online", "away", "offline"]},
                "actor": {"type": "string", "description": "the caller's label, or `system`"},
                "reason": {"type": ["string", "null"]},
                "changed_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "the clock of the change's transaction, as offers use it",
                },
            },
        },
    },
}


_FEEDBACK_EVENT: dict[str, Any] = {
    "type": "object",
    "description": (
        "CloudEvents 1.0 structured JSON: a customer answered the survey sent after a resolve "
        "(kept in the `feedback` table, written in the same transaction)."
    ),
    "required": ["specversion", "id", "source", "type", "time", "subject", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string"},
        "source": {"const": "/router"},
        "type": {"const": "router.feedback.received"},
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string", "description": "the conversation id"},
        "datacontenttype": {"const": "application/json"},
        "data": {
            "type": "object",
            "required": [
                "feedback_id",
                "survey_id",
                "conversation_id",
                "resolution",
                "channel",
                "kind",
                "score",
                "received_at",
            ],
            "properties": {
                "feedback_id": {"type": "string", "format": "uuid"},
                "survey_id": {"type": "string", "format": "uuid"},
                "conversation_id": {"type": "string", "format": "uuid"},
                "resolution": {
                    "type": "integer",
                    "description": "which resolve of the conversation it rates (1: the first)",
                },
                "agent_id": {"type": ["string", "null"], "format": "uuid"},
                "queue_id": {"type": ["string", "null"], "format": "uuid"},
                "channel": {"type": "string"},
                "kind": {"enum": ["csat", "ces", "nps"]},
                "score": {
                    "type": "integer",
                    "description": "csat 1-5, ces 1-7, nps 0-10",
                    "minimum": 0,
                    "maximum": 10,
                },
                "comment": {"type": ["string", "null"]},
                "received_at": {"type": "string", "format": "date-time"},
            },
        },
    },
}


STRUCTURED_MODE = "application/cloudevents+json"

# The CloudEvents Kafka protocol binding, structured content mode: the value is the whole
# event in JSON and this header announces it, so any CloudEvents SDK reads the record.
_STRUCTURED_MODE_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["content-type"],
    "properties": {
        "content-type": {
            "const": STRUCTURED_MODE,
            "description": "CloudEvents Kafka protocol binding: structured content mode",
        }
    },
}


def _cloud_event_message(payload: str, key: str) -> dict[str, Any]:
    return {
        "contentType": STRUCTURED_MODE,
        "headers": _STRUCTURED_MODE_HEADERS,
        "payload": {"$ref": f"#/components/schemas/{payload}"},
        "bindings": {
            "kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.5.0"}
        },
    }


def document() -> dict[str, Any]:
    """The AsyncAPI document for the default topic names."""
    # The documented names are the defaults, whatever this process's environment says.
    settings = Settings.model_construct()
    inbound_schema = TypeAdapter(CloudEvent).json_schema(
        ref_template="#/components/schemas/{model}"
    )
    schemas = inbound_schema.pop("$defs", {})
    schemas["InboundCloudEvent"] = inbound_schema
    schemas = {name: _asyncapi_schema(schema) for name, schema in schemas.items()}
    schemas["ConversationCloudEvent"] = _CONVERSATION_EVENT
    schemas["PresenceCloudEvent"] = _PRESENCE_EVENT
    schemas["FeedbackCloudEvent"] = _FEEDBACK_EVENT
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Conversation router topics",
            "version": __version__,
            "description": (
                "Inbound events are produced with acks=all and idempotence; a webhook is "
                "answered 2xx only after the broker acknowledged them. Conversation events "
                "are published from the outbox after the transaction that made them commits."
            ),
        },
        "channels": {
            "inbound": {
                "address": settings.topic_inbound,
                "description": "Key: the conversation (thread) key, so a thread keeps its order.",
                "messages": {"inbound": {"$ref": "#/components/messages/Inbound"}},
            },
            "events": {
                "address": settings.topic_events,
                "description": (
                    "Key: the conversation id (conversation changes, feedback) or the agent "
                    "id (presence changes)."
                ),
                "messages": {
                    "change": {"$ref": "#/components/messages/ConversationChange"},
                    "presence": {"$ref": "#/components/messages/PresenceChange"},
                    "feedback": {"$ref": "#/components/messages/FeedbackReceived"},
                },
            },
            "deadLetters": {
                "address": settings.topic_dlq,
                "description": (
                    "The original bytes and key of an inbound record that failed by its own "
                    "fault (undecodable, or content refused), with headers router-error, "
                    "router-error-type, router-error-kind, router-source-topic, "
                    "router-source-partition and router-source-offset, then the record's own."
                ),
                "messages": {"dead": {"$ref": "#/components/messages/DeadLetter"}},
            },
        },
        "operations": {
            "publishInbound": {
                "action": "send",
                "channel": {"$ref": "#/channels/inbound"},
                "summary": "Channel adapters publish each verified webhook event.",
            },
            "consumeInbound": {
                "action": "receive",
                "channel": {"$ref": "#/channels/inbound"},
                "summary": "The routing engine (consumer group `router`) applies them.",
            },
            "publishEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/events"},
                "summary": "Conversation and presence changes and survey answers, after commit.",
            },
            "publishDeadLetters": {
                "action": "send",
                "channel": {"$ref": "#/channels/deadLetters"},
                "summary": "Records that failed by their own fault, so their partition moves on.",
            },
        },
        "components": {
            "messages": {
                "Inbound": _cloud_event_message(
                    "InboundCloudEvent", "the conversation (thread) key"
                ),
                "ConversationChange": _cloud_event_message(
                    "ConversationCloudEvent", "the conversation id"
                ),
                "PresenceChange": _cloud_event_message("PresenceCloudEvent", "the agent id"),
                "FeedbackReceived": _cloud_event_message(
                    "FeedbackCloudEvent", "the conversation id"
                ),
                "DeadLetter": {
                    "contentType": "application/octet-stream",
                    "payload": {"type": "string", "description": "the original record value"},
                },
            },
            "schemas": schemas,
        },
    }


def _asyncapi_schema(schema: Any) -> Any:
    """`schema` (pydantic's JSON Schema, OpenAPI dialect) in the AsyncAPI Schema Object's.

    The one difference that matters: OpenAPI's `discriminator` is an object (`propertyName`
    and a `mapping`); AsyncAPI's is the property's name alone. Nothing is lost: each
    variant states its value of that property as a `const`.
    """
    if isinstance(schema, list):
        return [_asyncapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    rewritten = {key: _asyncapi_schema(value) for key, value in schema.items()}
    discriminator = rewritten.get("discriminator")
    if isinstance(discriminator, dict) and isinstance(discriminator.get("propertyName"), str):
        name = discriminator["propertyName"]
        rewritten["discriminator"] = name
        # AsyncAPI wants the property required where the discriminator is; every variant
        # writes it (a literal with a default is always serialised).
        rewritten["required"] = [*rewritten.get("required", ()), name]
    return rewritten


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(render())
    print(f"wrote {TARGET}", file=sys.stderr)
