"""The committed AsyncAPI document matches the envelope models and is valid AsyncAPI 3.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from adapters.kafka.producer import STRUCTURED_CLOUDEVENT
from router.asyncapi import TARGET, document, render

# The official JSON Schema of AsyncAPI 3.0.0, vendored (see tests/contracts/README.md).
ASYNCAPI_3_0_SCHEMA = Path(__file__).parents[1] / "contracts" / "asyncapi-3.0.0.schema.json"


def asyncapi_errors(candidate: Any) -> list[str]:
    """Every violation of the AsyncAPI 3.0.0 schema, as `path: message`."""
    validator = Draft7Validator(json.loads(ASYNCAPI_3_0_SCHEMA.read_text()))
    return [
        f"/{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(candidate)
    ]


def test_committed_asyncapi_matches_the_models() -> None:
    assert TARGET.read_text() == render(), "run `python -m router.asyncapi` and commit the result"


def test_the_committed_document_is_valid_asyncapi_3() -> None:
    assert asyncapi_errors(json.loads(TARGET.read_text())) == []


def test_the_schema_check_finds_an_openapi_style_discriminator() -> None:
    """The check is not vacuous: the OpenAPI form of a discriminator is refused."""
    broken = document()
    data = broken["components"]["schemas"]["InboundCloudEvent"]["properties"]["data"]
    data["discriminator"] = {"propertyName": data["discriminator"]}
    errors = asyncapi_errors(broken)
    assert any("discriminator" in error for error in errors), errors


def test_every_variant_states_its_discriminator_value() -> None:
    """AsyncAPI's discriminator names the property; each variant says its own value of it."""
    schemas = document()["components"]["schemas"]
    discriminated = [
        schema
        for schema in _subschemas(schemas)
        if isinstance(schema.get("discriminator"), str) and "oneOf" in schema
    ]
    assert discriminated  # the inbound envelope's data is one
    for schema in discriminated:
        name = schema["discriminator"]
        variants = [schemas[ref["$ref"].rsplit("/", 1)[1]] for ref in schema["oneOf"]]
        values = [variant["properties"][name]["const"] for variant in variants]
        assert len(set(values)) == len(variants)
        assert name in schema["required"]


def test_cloud_event_messages_document_the_header_the_producers_send() -> None:
    messages = document()["components"]["messages"]
    [(name, value)] = STRUCTURED_CLOUDEVENT
    for message in ("Inbound", "ConversationChange", "PresenceChange"):
        headers = messages[message]["headers"]
        assert headers["required"] == [name]
        assert headers["properties"][name]["const"] == value.decode()
        assert messages[message]["contentType"] == value.decode()


def test_the_inbound_message_is_fully_described() -> None:
    schemas = document()["components"]["schemas"]
    message = schemas["InboundMessage"]["properties"]
    for field in (
        "event_id",
        "channel",
        "provider",
        "provider_message_id",
        "conversation_key",
        "customer",
        "recipient",
        "direction",
        "text",
        "stripped_text",
        "subject",
        "attachments",
        "provider_timestamp",
        "received_at",
    ):
        assert field in message
    json.dumps(document())  # serialisable as it stands


def _subschemas(node: Any) -> list[dict[str, Any]]:
    """Every object nested in `node`, itself included."""
    if isinstance(node, list):
        return [found for item in node for found in _subschemas(item)]
    if not isinstance(node, dict):
        return []
    return [node, *(found for value in node.values() for found in _subschemas(value))]
