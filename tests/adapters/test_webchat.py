"""Our web-chat widget's webhook through the real app onto the real Kafka topic."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adapters.channels.webchat import chat_event_schema, verify_signature
from router.errors import BadSignature, StaleRequest
from router.inbound.envelope import InboundMessage, MessageKind
from router.settings import Settings
from tests.adapters.channel_requests import (
    assert_transport_unavailable,
    chunked,
    nothing_published,
    post_during_outage,
    problem,
    published,
    webchat_headers,
)
from tests.adapters.conftest import Inbound
from tests.support import app_client

URL = "/webhooks/chat"


def chat_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "evt_01J2Z6Q8",
        "visitor": {"id": "v_81d0", "name": "Ada Lovelace"},
        "session_id": "s_5f2c",
        "site": "shop-main",
        "text": "Is the blue one in stock?",
        "sent_at": "2025-06-09T12:00:00Z",
    }
    event.update(overrides)
    return {name: value for name, value in event.items() if value is not ...}


def encoded(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


async def post(client: httpx.AsyncClient, body: bytes, **signing: Any) -> httpx.Response:
    return await client.post(URL, content=body, headers=webchat_headers(body, **signing))


async def test_a_visitor_message_becomes_one_chat_envelope(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    response = await post(client, encoded(chat_event()))
    assert response.status_code == 200
    assert response.content == b'{"status":"accepted"}'
    assert response.headers["content-type"] == "application/json"

    [(record, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert record.key == b"chat:shop-main|s_5f2c"
    assert event.channel == "chat"
    assert event.provider == "webchat"
    assert event.provider_message_id == "evt_01J2Z6Q8"
    assert event.conversation_key == "chat:shop-main|s_5f2c"
    assert (event.customer.kind, event.customer.value) == ("webchat", "v_81d0")
    assert event.customer.display_name == "Ada Lovelace"
    assert event.recipient == "shop-main"
    assert event.direction == "inbound"
    assert event.kind is MessageKind.TEXT
    assert event.text == event.stripped_text == "Is the blue one in stock?"
    assert event.attachments == ()
    assert event.provider_timestamp == datetime(2025, 6, 9, 12, 0, tzinfo=UTC)
    assert event.metadata == {"session_id": "s_5f2c"}


async def test_attachments_email_and_offsets_are_carried(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    photo = {
        "filename": "cart.png",
        "content_type": "image/png",
        "size": 48213,
        "url": "https://cdn.shop.example/u/cart.png",
    }
    event = chat_event(
        event_id="evt_2",
        text="",
        attachments=[photo],
        visitor={"id": "v_81d0", "email": "ada@example.com"},
        sent_at="2025-06-09T14:00:00+02:00",
        future_field={"ignored": True},
    )
    assert (await post(client, encoded(event))).status_code == 200

    [(_, message)] = await published(inbound, 1)
    assert isinstance(message, InboundMessage)
    assert message.kind is MessageKind.MEDIA
    assert message.text == ""
    assert [a.model_dump(exclude_none=True) for a in message.attachments] == [photo]
    assert message.customer.display_name is None
    assert message.metadata["visitor_email"] == "ada@example.com"
    assert message.provider_timestamp == datetime(2025, 6, 9, 12, 0, tzinfo=UTC)


async def test_a_session_stays_on_one_key_and_partition(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    for n in range(6):
        session = f"s_{n % 2}"
        body = encoded(chat_event(event_id=f"evt_{n}", session_id=session, text=f"line {n}"))
        assert (await post(client, body)).status_code == 200
    found = await published(inbound, 6)
    keys = {record.key for record, _ in found}
    assert keys == {b"chat:shop-main|s_0", b"chat:shop-main|s_1"}
    order = [
        event.text
        for _, event in found
        if isinstance(event, InboundMessage) and event.conversation_key.endswith("s_0")
    ]
    assert order == ["line 0", "line 2", "line 4"]


@pytest.mark.parametrize(
    "header",
    [
        "v1={good}",
        "v1={bad},v1={good}",
        "v1={good}, v1={bad}",
        "v0=deadbeef, v1={good}",
        "v1={upper}",
    ],
)
async def test_rotated_and_listed_signatures_are_accepted(
    client: httpx.AsyncClient, inbound: Inbound, header: str
) -> None:
    body, stamp = encoded(chat_event()), int(time.time())
    headers = webchat_headers(body, timestamp=stamp)
    good = headers["X-Router-Signature"].removeprefix("v1=")
    old = webchat_headers(body, timestamp=stamp, secret="the-old-secret")
    bad = old["X-Router-Signature"].removeprefix("v1=")
    headers["X-Router-Signature"] = header.format(good=good, bad=bad, upper=good.upper())
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200
    await published(inbound, 1)


async def test_tampered_body_is_refused(client: httpx.AsyncClient, inbound: Inbound) -> None:
    body = encoded(chat_event())
    headers = webchat_headers(body)
    tampered = body.replace(b"blue", b"gold")
    problem(await client.post(URL, content=tampered, headers=headers), 401, "bad-signature")
    await nothing_published(inbound)


@pytest.mark.parametrize("missing", ["X-Router-Signature", "X-Router-Timestamp"])
async def test_missing_signature_headers_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, missing: str
) -> None:
    body = encoded(chat_event())
    headers = webchat_headers(body)
    del headers[missing]
    body_ = problem(await client.post(URL, content=body, headers=headers), 401, "bad-signature")
    assert missing in body_["detail"]
    await nothing_published(inbound)


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": "not-the-secret"},
        {"signature": "v1=" + "0" * 64},
        {"signature": "v2=whatever"},
        {"signature": "sha256=abc"},
        {"signature": ",,,"},
    ],
)
async def test_wrong_signatures_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, signing: dict[str, str]
) -> None:
    problem(await post(client, encoded(chat_event()), **signing), 401, "bad-signature")
    await nothing_published(inbound)


async def test_a_signature_moved_to_another_timestamp_is_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = encoded(chat_event())
    headers = webchat_headers(body, timestamp=int(time.time()) - 10)
    headers["X-Router-Timestamp"] = str(int(time.time()))
    problem(await client.post(URL, content=body, headers=headers), 401, "bad-signature")
    await nothing_published(inbound)


@pytest.mark.parametrize("offset", [-301, -3600, 400, 86_400])
async def test_timestamps_outside_the_replay_window_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, offset: int
) -> None:
    body = encoded(chat_event())
    response = await post(client, body, timestamp=int(time.time()) + offset)
    problem(response, 401, "replayed-request")
    await nothing_published(inbound)


async def test_a_replayed_request_is_refused_once_the_window_passed(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    short = webhook_settings.model_copy(update={"replay_window_seconds": 2})
    body = encoded(chat_event())
    async with app_client(short) as (_, http):
        headers = webchat_headers(body)
        assert (await http.post(URL, content=body, headers=headers)).status_code == 200
        await asyncio.sleep(3.2)  # whole seconds are signed: clearly past the window
        problem(await http.post(URL, content=body, headers=headers), 401, "replayed-request")
    await published(inbound, 1)


async def test_oversized_bodies_are_refused_before_they_are_read(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    limit = webhook_settings.webhook_max_body_bytes
    big = encoded(chat_event(text="x" * limit))
    problem(await post(client, big), 413, "payload-too-large")

    pulled: list[int] = []
    headers = webchat_headers(big)
    stream = chunked(big * 8, 64 * 1024, pulled)
    response = await client.post(URL, content=stream, headers=headers)
    problem(response, 413, "payload-too-large")
    # Cut off once past the limit, not after buffering all eight times the limit.
    assert len(pulled) * 64 * 1024 <= limit + 2 * 64 * 1024
    await nothing_published(inbound)


async def test_a_truncated_body_is_a_named_422(client: httpx.AsyncClient, inbound: Inbound) -> None:
    body = encoded(chat_event())
    cut = body[: len(body) // 2]
    detail = problem(await post(client, cut), 422, "invalid-payload")["detail"]
    assert detail.startswith("body: Invalid JSON")
    # Cut in transit (signed whole, arrived half): the signature no longer matches.
    headers = webchat_headers(body)
    problem(await client.post(URL, content=cut, headers=headers), 401, "bad-signature")
    await nothing_published(inbound)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_other_content_types_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, content_type: str
) -> None:
    body = encoded(chat_event())
    headers = {**webchat_headers(body), "Content-Type": content_type}
    problem(await client.post(URL, content=body, headers=headers), 415, "unsupported-media-type")
    await nothing_published(inbound)


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        (chat_event(visitor={"name": "Ada"}), "visitor.id: missing"),
        (chat_event(event_id=...), "event_id: missing"),
        (chat_event(session_id=...), "session_id: missing"),
        (chat_event(site=...), "site: missing"),
        (chat_event(text=...), "text: missing"),
        (chat_event(sent_at=...), "sent_at: missing"),
        (chat_event(event_id=""), "event_id: String should have at least 1 character"),
        (chat_event(sent_at="2025-06-09T12:00:00"), "sent_at: Input should have timezone info"),
        (chat_event(sent_at=1749470400), "sent_at: Input should be a valid datetime"),
        (chat_event(sent_at="0001-01-01T00:00:00+01:00"), "sent_at: Value error, out of range"),
        (chat_event(site="shop|main"), "site: String should match pattern"),
        (chat_event(text="   "), "text: empty, and there are no attachments"),
        (chat_event(visitor={"id": "v", "email": "not-an-email"}), "visitor.email: Value error"),
        (chat_event(visitor={"id": 42}), "visitor.id: Input should be a valid string"),
        (chat_event(attachments=[{"filename": "a.png"}]), "attachments[0].content_type: missing"),
        (
            chat_event(
                attachments=[
                    {"filename": "a", "content_type": "image/png", "size": 1, "url": "ftp://x"}
                ]
            ),
            "attachments[0].url: String should match pattern",
        ),
        ([1, 2], "body: Input should be an object"),
    ],
)
async def test_missing_or_malformed_fields_are_named(
    client: httpx.AsyncClient, inbound: Inbound, event: Any, detail: str
) -> None:
    body = problem(await post(client, encoded(event)), 422, "invalid-payload")
    assert body["detail"].startswith(detail), body["detail"]
    await nothing_published(inbound)


async def test_without_a_secret_every_request_is_refused(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    unconfigured = webhook_settings.model_copy(update={"webchat_secret": None})
    async with app_client(unconfigured) as (_, http):
        body = encoded(chat_event())
        response = await http.post(URL, content=body, headers=webchat_headers(body))
    assert problem(response, 503, "not-configured")["setting"] == "ROUTER_WEBCHAT_SECRET"
    assert "retry-after" not in response.headers
    await nothing_published(inbound)


async def test_a_broker_outage_is_a_503_with_retry_after(webhook_settings: Settings) -> None:
    body = encoded(chat_event())
    responses = await post_during_outage(webhook_settings, [(URL, body, webchat_headers(body))])
    assert_transport_unavailable(responses)


def test_the_signature_check_is_exact_about_the_window() -> None:
    secret, body, now = b"s3cret", b'{"a":1}', 1_750_000_000.0
    header = webchat_headers(body, timestamp=int(now) - 300, secret="s3cret")
    stamp, signature = header["X-Router-Timestamp"], header["X-Router-Signature"]
    verify_signature(secret, body, stamp, signature, 300, now=now)
    with pytest.raises(StaleRequest):
        verify_signature(secret, body, stamp, signature, 299, now=now)
    with pytest.raises(BadSignature):
        verify_signature(secret, body + b" ", stamp, signature, 300, now=now)
    # Signed, but the signed timestamp is no number: refused as outside any window.
    odd = webchat_headers(body, secret="s3cret", timestamp=0)
    odd_signature = "v1=" + hmac.new(secret, b"soon." + body, hashlib.sha256).hexdigest()
    with pytest.raises(StaleRequest):
        verify_signature(secret, body, "soon", odd_signature, 300, now=now)
    with pytest.raises(StaleRequest):
        verify_signature(
            secret, body, odd["X-Router-Timestamp"], odd["X-Router-Signature"], 300, now=now
        )


def test_the_body_schema_is_published_without_dangling_references() -> None:
    schema = chat_event_schema()
    assert "$defs" not in json.dumps(schema)
    message, status = schema["oneOf"]
    assert set(message["required"]) == {
        "event_id",
        "visitor",
        "session_id",
        "site",
        "text",
        "sent_at",
    }
    assert message["properties"]["visitor"]["required"] == ["id"]
    assert set(status["required"]) == {
        "type",
        "event_id",
        "site",
        "session_id",
        "reply_id",
        "status",
        "at",
    }


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
_VALID = chat_event()
# Each field valid or arbitrary, so that signed examples get past the JSON into validation
# and, now and then, all the way onto the topic.
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.just(value) | _JSON for name, value in _VALID.items()},
        "visitor": st.fixed_dictionaries({}, optional={"id": _JSON, "name": _JSON, "email": _JSON})
        | st.just(_VALID["visitor"])
        | _JSON,
        "site": st.from_regex(r"[A-Za-z0-9|._-]{1,8}", fullmatch=True) | _JSON,
        "attachments": st.lists(st.dictionaries(st.sampled_from(list("abcdef")), _JSON)) | _JSON,
        "sent_at": st.builds(
            lambda moment, offset: moment.isoformat() + offset,
            st.datetimes(),
            st.sampled_from(["Z", "+01:00", "-14:00", "+23:59", ""]),
        )
        | _JSON,
    },
)
_BODIES = (
    st.binary(max_size=300) | _FIELDS.map(encoded) | _JSON.map(lambda v: json.dumps(v).encode())
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_BODIES,
    signed=st.booleans(),
    timestamp=st.text(max_size=12) | st.integers().map(str),
    signature=st.text(max_size=80),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain"]
    )
    | st.text(max_size=30),
)
async def test_arbitrary_requests_never_cause_a_server_error(
    client: httpx.AsyncClient,
    body: bytes,
    signed: bool,
    timestamp: str,
    signature: str,
    content_type: str,
) -> None:
    headers = webchat_headers(body) if signed else {}
    if not signed:
        headers = {"X-Router-Timestamp": timestamp, "X-Router-Signature": signature}
    headers["Content-Type"] = content_type if not signed else "application/json"
    try:
        response = await client.post(URL, content=body, headers=headers)
    except (UnicodeEncodeError, httpx.InvalidURL, httpx.LocalProtocolError):
        return  # a header httpx itself cannot send never reaches the app
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
