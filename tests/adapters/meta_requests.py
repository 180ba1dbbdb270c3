"""Building Meta webhook notifications for the tests, and generating arbitrary ones."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st

from router.inbound.envelope import InboundMessage, MessageKind
from tests.adapters.channel_requests import meta_headers, published
from tests.adapters.conftest import Inbound

URL = "/webhooks/meta"
LINE = "106540352242922"
PAGE = "682498302938465"
IG_ACCOUNT = "17841400000000001"


def encoded(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def whatsapp(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    """A WhatsApp Business Account notification, one change per value."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "102290129340398", "changes": [{"value": value, "field": field}]}
            for value in values
        ],
    }


def wa_value(
    messages: Sequence[Any] = (), statuses: Sequence[Any] = (), **extra: Any
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": LINE},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": list(messages),
        "statuses": list(statuses),
    }
    value.update(extra)
    return value


def wa_message(kind: str, n: int, **content: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": f"wamid.{kind}.{n}",
        "timestamp": "1749416383",
        "type": kind,
        **content,
    }


def social(kind: str, events: list[dict[str, Any]], business: str = PAGE) -> dict[str, Any]:
    """A Messenger (`page`) or Instagram notification of messaging events."""
    return {
        "object": kind,
        "entry": [{"id": business, "time": 1458692752478, "messaging": events}],
    }


def from_customer(psid: str, business: str = PAGE, **event: Any) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": business},
        "timestamp": 1458692752478,
        **event,
    }


def social_changes(
    kind: str, business: str, *changes: tuple[str, dict[str, Any]], standby: Sequence[Any] = ()
) -> dict[str, Any]:
    """A Page or Instagram notification of `changes` (comments, mentions, feed)."""
    entry: dict[str, Any] = {
        "id": business,
        "time": 1749416383,
        "changes": [{"field": field, "value": value} for field, value in changes],
    }
    if standby:
        entry["standby"] = list(standby)
    return {"object": kind, "entry": [entry]}


async def post(client: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    """POST a body to the Meta webhook, signed with the test app secret."""
    return await client.post(URL, content=body, headers={**meta_headers(body), **headers})


@dataclass
class Expected:
    """What the one message a notification publishes must say."""

    key: str
    kind: MessageKind
    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()


async def published_as(
    client: httpx.AsyncClient, inbound: Inbound, document: dict[str, Any], expected: Expected
) -> None:
    """POST `document` signed; exactly one message is published, and it says `expected`."""
    response = await post(client, encoded(document))
    assert (response.status_code, response.content) == (200, b"EVENT_RECEIVED")
    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert event.conversation_key == expected.key
    assert event.kind is expected.kind
    assert expected.text in event.text
    assert event.text == event.stripped_text
    assert expected.metadata.items() <= event.metadata.items(), event.metadata
    assert event.references == expected.references
    assert tuple(a.url for a in event.attachments) == expected.urls


# Arbitrary Meta-shaped notifications, garbage and cut-off JSON, for the property tests: each
# field is either plausible or anything at all, so examples reach deep into the parser.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
WA_MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "from": st.sampled_from(["16505551234", "+447911123456", "x", ""]) | JSON,
        "id": st.text(max_size=300) | JSON,
        "timestamp": st.integers().map(str) | JSON,
        "type": st.sampled_from(["text", "image", "location", "interactive", "button", "reaction"])
        | JSON,
        "text": st.fixed_dictionaries({"body": st.text()}) | JSON,
        "image": st.dictionaries(st.sampled_from(["id", "mime_type", "url", "caption"]), JSON),
        "location": st.dictionaries(st.sampled_from(["latitude", "longitude", "name"]), JSON),
        "interactive": JSON,
    },
)
STATUS = st.dictionaries(
    st.sampled_from(["id", "status", "timestamp", "recipient_id", "errors"]),
    st.sampled_from(["sent", "failed", "16505551234"]) | JSON,
)
WA = st.builds(
    lambda messages, statuses, metadata: whatsapp(
        wa_value(messages=messages, statuses=statuses, metadata=metadata)
    ),
    st.lists(WA_MESSAGE, max_size=3),
    st.lists(STATUS, max_size=2),
    st.just({"phone_number_id": LINE}) | JSON,
)
SOCIAL_EVENT = st.fixed_dictionaries(
    {},
    optional={
        "sender": st.fixed_dictionaries({"id": st.text(max_size=210)}) | JSON,
        "recipient": st.just({"id": PAGE}) | JSON,
        "timestamp": st.integers() | JSON,
        "message": st.dictionaries(
            st.sampled_from(["mid", "text", "is_echo", "attachments", "reply_to"]), JSON
        ),
        "delivery": st.dictionaries(st.sampled_from(["mids", "watermark"]), JSON),
        "read": st.dictionaries(st.sampled_from(["mid", "watermark"]), JSON),
        "postback": st.dictionaries(st.sampled_from(["mid", "title", "payload"]), JSON),
    },
)
SOCIALS = st.builds(
    lambda kind, events: social(kind, events),
    st.sampled_from(["page", "instagram", "user", ""]),
    st.lists(SOCIAL_EVENT, max_size=3),
)
BODIES = (
    st.binary(max_size=300)
    | JSON.map(encoded)
    | WA.map(encoded)
    | SOCIALS.map(encoded)
    | st.builds(lambda doc, cut: encoded(doc)[:cut], WA | SOCIALS, st.integers(0, 400))
)
