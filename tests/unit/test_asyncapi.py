"""The committed AsyncAPI document matches the envelope models."""

from __future__ import annotations

import json

from router.asyncapi import TARGET, document, render


def test_committed_asyncapi_matches_the_models() -> None:
    assert TARGET.read_text() == render(), "run `python -m router.asyncapi` and commit the result"


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
