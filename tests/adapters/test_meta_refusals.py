"""What the Meta webhook refuses, and that a refused request publishes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from router.settings import Settings
from tests.adapters.channel_requests import (
    assert_transport_unavailable,
    chunked,
    meta_headers,
    nothing_published,
    post_during_outage,
    problem,
)
from tests.adapters.conftest import Inbound
from tests.adapters.meta_requests import (
    BODIES,
    URL,
    encoded,
    post,
    wa_message,
    wa_value,
    whatsapp,
)
from tests.adapters.payloads import payload, signed
from tests.support import app_client

SAMPLE = "meta_whatsapp_text.json"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=8b38a3cfe410865e3684745b9db88741979d7553"},
        {"X-Hub-Signature-256": ""},
        # The legacy SHA-1 header alone is not accepted.
        {"X-Hub-Signature": "sha1=8b38a3cfe410865e3684745b9db88741979d7553"},
    ],
)
async def test_missing_or_wrong_signatures_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, headers: dict[str, str]
) -> None:
    body = payload(SAMPLE).body
    sent = {"Content-Type": "application/json", **headers}
    problem(await client.post(URL, content=body, headers=sent), 401, "bad-signature")
    await nothing_published(inbound)


async def test_other_secrets_and_tampered_bodies_are_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body, headers = signed(payload(SAMPLE))
    tampered = body.replace(b"delivery address", b"billing address")
    assert tampered != body
    response = await client.post(URL, content=tampered, headers=headers)
    problem(response, 401, "bad-signature")
    problem(
        await client.post(URL, content=body, headers=meta_headers(body, "other")),
        401,
        "bad-signature",
    )
    await nothing_published(inbound)


async def test_oversized_bodies_are_refused_while_reading(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    limit = webhook_settings.webhook_max_body_bytes
    big = encoded(whatsapp(wa_value(messages=[wa_message("text", 1, text={"body": "x" * limit})])))
    problem(await post(client, big), 413, "payload-too-large")
    pulled: list[int] = []
    response = await client.post(
        URL, content=chunked(big * 4, 32 * 1024, pulled), headers=meta_headers(big)
    )
    problem(response, 413, "payload-too-large")
    assert len(pulled) * 32 * 1024 <= limit + 2 * 32 * 1024
    await nothing_published(inbound)


async def test_truncated_bodies_are_refused(client: httpx.AsyncClient, inbound: Inbound) -> None:
    body = payload(SAMPLE).body
    cut = body[:-7]
    detail = problem(await post(client, cut), 422, "invalid-payload")["detail"]
    assert detail.startswith("body: not JSON")
    problem(await client.post(URL, content=cut, headers=meta_headers(body)), 401, "bad-signature")
    await nothing_published(inbound)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_other_content_types_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, content_type: str
) -> None:
    body = payload(SAMPLE).body
    headers = {**meta_headers(body), "Content-Type": content_type}
    problem(await client.post(URL, content=body, headers=headers), 415, "unsupported-media-type")
    await nothing_published(inbound)


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        ({"object": "whatsapp_business_account"}, "entry: missing"),
        ({"object": "page"}, "entry: missing"),
        ({"entry": []}, "object: missing"),
        ([], "body: not a JSON object"),
    ],
)
async def test_a_body_that_is_no_notification_is_refused(
    client: httpx.AsyncClient, inbound: Inbound, document: Any, detail: str
) -> None:
    body = problem(await post(client, encoded(document)), 422, "invalid-payload")
    assert body["detail"].startswith(detail), body["detail"]
    await nothing_published(inbound)


async def test_without_the_app_secret_posts_are_refused(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    unconfigured = webhook_settings.model_copy(update={"meta_app_secret": None})
    body = payload(SAMPLE).body
    async with app_client(unconfigured) as (_, http):
        response = await http.post(URL, content=body, headers=meta_headers(body))
    assert problem(response, 503, "not-configured")["setting"] == "ROUTER_META_APP_SECRET"
    await nothing_published(inbound)


async def test_a_broker_outage_is_a_503_with_retry_after(webhook_settings: Settings) -> None:
    body, headers = signed(payload(SAMPLE))
    responses = await post_during_outage(webhook_settings, [(URL, body, headers)])
    assert_transport_unavailable(responses)


@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=BODIES,
    signed=st.booleans(),
    signature=st.text(max_size=80),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"])
    | st.text(max_size=30),
)
async def test_arbitrary_requests_never_cause_a_server_error(
    client: httpx.AsyncClient, body: bytes, signed: bool, signature: str, content_type: str
) -> None:
    headers = meta_headers(body) if signed else {"X-Hub-Signature-256": signature}
    if not signed:
        headers["Content-Type"] = content_type
    try:
        response = await client.post(URL, content=body, headers=headers)
    except UnicodeEncodeError:
        return  # a header httpx itself cannot send never reaches the app
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.dictionaries(
        st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]),
        st.sampled_from(["subscribe", "test_meta_verify_token", ""]) | st.text(max_size=300),
    )
)
async def test_arbitrary_handshakes_never_cause_a_server_error(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    response = await client.get(URL, params=query)
    assert response.status_code in (200, 403, 422)
