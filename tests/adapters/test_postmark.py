"""Postmark's inbound webhook through the real app onto the real Kafka topic."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from router.inbound.envelope import MessageKind
from router.settings import Settings
from tests.adapters.channel_requests import (
    assert_transport_unavailable,
    chunked,
    nothing_published,
    post_during_outage,
)
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.email_requests import (
    basic_auth,
    email_events,
)
from tests.adapters.payloads import payload
from tests.support import app_client

URL = "/webhooks/email/postmark"
HEADERS = {"Content-Type": "application/json", **basic_auth(SECRETS["postmark_inbound_token"])}


def _sample() -> dict[str, Any]:
    """The stored inbound post's JSON document (tests/payloads)."""
    document: dict[str, Any] = payload("postmark_inbound.json").document()
    return document


def _variant(**changes: Any) -> bytes:
    document = _sample()
    for name, value in changes.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return json.dumps(document).encode()


async def test_attachment_contents_never_reach_the_topic(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    """The sample's envelope is checked in test_payloads; here only what it must leave out."""
    document = _sample()
    [attached] = document["Attachments"]
    response = await client.post(URL, content=json.dumps(document).encode(), headers=HEADERS)
    assert response.status_code == 200

    [(record, event)] = await email_events(inbound, 1)
    assert [(a.filename, a.size) for a in event.attachments] == [
        (attached["Name"], attached["ContentLength"])
    ]
    assert attached["Content"].encode() not in record.value
    assert base64.b64decode(attached["Content"]) not in record.value


async def test_without_postmarks_stripped_reply_the_router_strips_it(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = _variant(StrippedTextReply="")
    assert (await client.post(URL, content=body, headers=HEADERS)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    # The router's own stripping of TextBody finds what Postmark's did.
    assert event.stripped_text == _sample()["StrippedTextReply"]


async def test_a_new_html_only_email_with_attachments(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    secret = b"PRIVATE-SCAN" * 100
    attachments = [
        {
            "Name": "scan.pdf",
            "Content": base64.b64encode(secret).decode(),
            "ContentType": "application/pdf",
            "ContentLength": len(secret),
        },
        {
            "Name": "logo.png",
            "Content": base64.b64encode(b"\x89PNG").decode(),
            "ContentType": "image/png",
            "ContentLength": 4,
            "ContentID": "logo@01D",
        },
    ]
    body = _variant(
        TextBody="",
        StrippedTextReply=None,
        HtmlBody="<div>Please find the <b>scan</b> attached.</div>",
        Headers=[{"Name": "Message-ID", "Value": "<NEW-1@mail.example.net>"}],
        Attachments=attachments,
    )
    assert (await client.post(URL, content=body, headers=HEADERS)).status_code == 200
    [(record, event)] = await email_events(inbound, 1)
    assert event.conversation_key == "email:new-1@mail.example.net"
    assert event.text == event.stripped_text == "Please find the scan attached."
    assert [(a.filename, a.content_type, a.size) for a in event.attachments] == [
        ("scan.pdf", "application/pdf", len(secret)),
        ("logo.png", "image/png", 4),
    ]
    assert base64.b64encode(secret) not in record.value


async def test_only_attachments_make_a_media_message(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = _variant(TextBody="", HtmlBody="", StrippedTextReply="")
    assert (await client.post(URL, content=body, headers=HEADERS)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    assert event.kind is MessageKind.MEDIA


async def test_without_threading_headers_the_postmark_id_is_the_thread(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = _variant(Headers=[], FromFull=None, From="Ada <ADA@example.com>", ToFull=None)
    assert (await client.post(URL, content=body, headers=HEADERS)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    postmark_id = _sample()["MessageID"]
    assert event.provider_message_id == postmark_id
    assert event.conversation_key == f"email:{postmark_id}"
    assert (event.customer.value, event.customer.display_name) == ("ada@example.com", "Ada")


async def test_a_redelivery_keeps_its_dedupe_key_and_partition(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body = _variant()
    for _ in range(2):
        assert (await client.post(URL, content=body, headers=HEADERS)).status_code == 200
    found = await email_events(inbound, 2)
    assert len({event.provider_message_id for _, event in found}) == 1


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing"),
        (basic_auth("postmark_pass", "postmark_user"), "do not match"),
        ({"Authorization": "Basic dGVzdF9wb3N0bWFya190b2tlbg=="}, "do not match"),  # no colon
        ({"Authorization": "Basic"}, "missing"),
    ],
)
async def test_bad_credentials_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, headers: dict[str, str], detail: str
) -> None:
    response = await client.post(
        URL, content=_variant(), headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 401
    assert detail in response.json()["detail"]
    await nothing_published(inbound)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (_variant(MessageID=None), "MessageID: missing"),
        (_variant(MessageID="   "), "MessageID: String should have at least 1 character"),
        (
            _variant(OriginalRecipient=None, ToFull=None, To=None),
            "ToFull: missing or not an email address",
        ),
        (
            _variant(Attachments=[{"Name": "a", "ContentLength": "big"}]),
            "Attachments[0].ContentLength",
        ),
        (_variant(Headers={"Message-ID": "x"}), "Headers: Input should be a valid array"),
        (b"[1, 2]", "body: Input should be an object"),
        (b'{"MessageID": "x", "FromFull": ', "body: Invalid JSON"),
        (b"\xff\xfe", "body: Invalid JSON"),
    ],
)
async def test_malformed_documents_are_refused_naming_the_field(
    client: httpx.AsyncClient, inbound: Inbound, body: bytes, detail: str
) -> None:
    response = await client.post(URL, content=body, headers=HEADERS)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)
    await nothing_published(inbound)


async def test_wrong_content_types_are_refused(client: httpx.AsyncClient, inbound: Inbound) -> None:
    for wrong in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = await client.post(
            URL, content=_variant(), headers={**HEADERS, "Content-Type": wrong}
        )
        assert response.status_code == 415
    await nothing_published(inbound)


async def test_oversized_bodies_are_cut_off(webhook_settings: Settings, inbound: Inbound) -> None:
    small = webhook_settings.model_copy(update={"email_max_body_bytes": 4096})
    body = _variant(TextBody="x" * 100_000)
    async with app_client(small) as (_, http):
        assert (await http.post(URL, content=body, headers=HEADERS)).status_code == 413
        pulled: list[int] = []
        streamed = await http.post(URL, content=chunked(body, 1024, pulled), headers=HEADERS)
        assert streamed.status_code == 413
        assert len(pulled) < len(body) // 1024
    await nothing_published(inbound)


async def test_an_unconfigured_token_refuses_everything(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    unconfigured = webhook_settings.model_copy(update={"postmark_inbound_token": None})
    async with app_client(unconfigured) as (_, http):
        response = await http.post(URL, content=_variant(), headers=HEADERS)
    assert response.status_code == 503
    assert response.json()["type"].endswith("/not-configured")
    await nothing_published(inbound)


async def test_a_broker_outage_answers_503_with_retry_after(webhook_settings: Settings) -> None:
    assert_transport_unavailable(
        await post_during_outage(webhook_settings, [(URL, _variant(), HEADERS)])
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    [
        "MessageID",
        "From",
        "FromFull",
        "To",
        "ToFull",
        "OriginalRecipient",
        "Subject",
        "Date",
        "TextBody",
        "HtmlBody",
        "StrippedTextReply",
        "Headers",
        "Attachments",
        "MailboxHash",
    ]
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=st.dictionaries(_KEYS, _JSON, max_size=6),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
)
async def test_arbitrary_authenticated_documents_never_fail_with_a_5xx(
    client: httpx.AsyncClient, changes: dict[str, Any], raw: bytes | None
) -> None:
    document = _sample()
    document.update(changes)
    body = raw if raw is not None else json.dumps(document).encode()
    response = await client.post(URL, content=body, headers=HEADERS)
    assert response.status_code in (200, 422), response.text
