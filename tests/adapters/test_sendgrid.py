"""SendGrid Inbound Parse through the real app onto the real Kafka topic."""

from __future__ import annotations

import json
from email.message import EmailMessage

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
    FilePart,
    basic_auth,
    email_events,
    multipart,
)
from tests.adapters.payloads import payload, signed
from tests.support import app_client

URL = "/webhooks/email/sendgrid"
AUTH = basic_auth(SECRETS["sendgrid_inbound_token"])


def _sample() -> tuple[bytes, dict[str, str]]:
    """The stored Inbound Parse post (tests/payloads), with its basic auth."""
    return signed(payload("sendgrid_inbound_parse.json"))


def _parsed(**overrides: str | bytes) -> list[tuple[str, str | bytes]]:
    fields = {
        "headers": "From: Maria Lopez <maria@example.net>\nMessage-ID: <new-1@mail.example.net>\n",
        "from": "Maria Lopez <maria@example.net>",
        "to": "support@parse.example.com",
        "subject": "Where is my order?",
        "text": "Hello, where is order #4521?",
        "envelope": '{"to":["support@parse.example.com"],"from":"maria@example.net"}',
        "charsets": '{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}',
        **overrides,
    }
    return [(name, value) for name, value in fields.items() if value != "<absent>"]


async def _post(client: httpx.AsyncClient, body: bytes, content_type: str) -> httpx.Response:
    return await client.post(URL, content=body, headers={"Content-Type": content_type, **AUTH})


async def test_attachments_travel_as_metadata_only(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    secret = b"TOP-SECRET-ATTACHMENT-BYTES" * 40
    info = {
        "attachment1": {
            "filename": "invoice.pdf",
            "name": "invoice.pdf",
            "type": "application/pdf",
        },
        "attachment2": {"filename": "photo.jpg", "type": "image/jpeg", "content-id": "ii_1"},
    }
    body, content_type = multipart(
        _parsed(text="", attachments="2", **{"attachment-info": json.dumps(info)}),
        [
            FilePart("attachment1", "invoice.pdf", "application/octet-stream", secret),
            FilePart("attachment2", "photo.jpg", "image/jpeg", b"\xff\xd8" + secret),
        ],
    )
    assert (await _post(client, body, content_type)).status_code == 200

    [(record, event)] = await email_events(inbound, 1)
    assert [(a.filename, a.content_type, a.size) for a in event.attachments] == [
        ("invoice.pdf", "application/pdf", len(secret)),
        ("photo.jpg", "image/jpeg", len(secret) + 2),
    ]
    assert event.kind is MessageKind.MEDIA
    assert b"TOP-SECRET" not in record.value


async def test_raw_mode_posts_the_whole_mime_message(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    message = EmailMessage()
    message["From"] = "=?UTF-8?B?TWFyw61h?= <Maria@Example.net>"
    message["To"] = "Support <support@parse.example.com>"
    message["Subject"] = "Re: Order"
    message["Message-ID"] = "<RAW-2@mail.example.net>"
    message["In-Reply-To"] = "<raw-1@mail.example.net>"
    message["References"] = "<raw-0@shop.example.com> <raw-1@mail.example.net>"
    message["Date"] = "Thu, 28 Jul 2016 09:00:00 +0200"
    message.set_content("Still nothing.\n\nOn Wed, Store <s@shop.example.com> wrote:\n> Soon\n")
    message.add_attachment(
        b"PK" + bytes(510), maintype="application", subtype="zip", filename="logs.zip"
    )
    body, content_type = multipart(
        [
            ("email", message.as_bytes()),
            ("to", "support@parse.example.com"),
            ("from", "Maria <maria@example.net>"),
            ("subject", "Re: Order"),
            ("envelope", '{"to":["support@parse.example.com"],"from":"maria@example.net"}'),
            ("charsets", '{"to":"UTF-8","subject":"UTF-8","from":"UTF-8"}'),
            ("spam_score", "0.2"),
        ]
    )
    assert (await _post(client, body, content_type)).status_code == 200

    [(_, event)] = await email_events(inbound, 1)
    assert event.provider_message_id == "raw-2@mail.example.net"
    assert event.conversation_key == "email:raw-0@shop.example.com"
    assert event.customer.display_name == "María"
    assert event.customer.value == "maria@example.net"
    assert event.stripped_text == "Still nothing."
    assert [(a.filename, a.content_type, a.size) for a in event.attachments] == [
        ("logs.zip", "application/zip", 512)
    ]
    assert event.metadata == {
        "mode": "raw",
        "spam_score": "0.2",
        "message_id": "raw-2@mail.example.net",
    }
    assert event.provider_timestamp is not None
    assert event.provider_timestamp.hour == 7


async def test_fields_are_decoded_with_the_declared_charsets(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body, content_type = multipart(
        _parsed(
            subject="Réclamation".encode("iso-8859-1"),
            text="Où est ma commande ?".encode("iso-8859-1"),
            charsets='{"subject":"iso-8859-1","text":"iso-8859-1","from":"UTF-8"}',
        )
    )
    assert (await _post(client, body, content_type)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    assert (event.subject, event.text) == ("Réclamation", "Où est ma commande ?")


async def test_one_thread_keeps_one_key_and_one_partition(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    for number in range(4):
        headers = (
            f"Message-ID: <reply-{number}@mail.example.net>\n"
            f"References: <order-9@shop.example.com> <reply-{number - 1}@mail.example.net>\n"
        )
        body, content_type = multipart(_parsed(headers=headers), boundary=f"b{number}")
        assert (await _post(client, body, content_type)).status_code == 200
    found = await email_events(inbound, 4)
    assert {event.conversation_key for _, event in found} == {"email:order-9@shop.example.com"}
    assert len({event.provider_message_id for _, event in found}) == 4


async def test_a_redelivery_without_message_id_keeps_its_dedupe_key(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    for boundary in ("first", "second"):
        body, content_type = multipart(_parsed(headers="Subject: x\n"), boundary=boundary)
        assert (await _post(client, body, content_type)).status_code == 200
    found = await email_events(inbound, 2)
    keys = {event.provider_message_id for _, event in found}
    assert len(keys) == 1
    assert next(iter(keys)).startswith("sha256:")


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing"),
        (basic_auth("wrong-token"), "do not match"),
        ({"Authorization": "Basic !!!not-base64"}, "malformed"),
        ({"Authorization": "Bearer test_sendgrid_token"}, "missing"),
        (basic_auth("").copy(), "do not match"),
    ],
)
async def test_bad_credentials_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, headers: dict[str, str], detail: str
) -> None:
    body, sample_headers = _sample()
    sample_headers.pop("Authorization")
    response = await client.post(URL, content=body, headers={**sample_headers, **headers})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert detail in response.json()["detail"]
    await nothing_published(inbound)


@pytest.mark.parametrize(
    ("fields", "status", "detail"),
    [
        (_parsed(to="<absent>", envelope="<absent>"), 422, "to: missing or not an email address"),
        (_parsed(envelope="{not json"), 422, "envelope: not valid JSON"),
        (_parsed(charsets="[1, 2]"), 422, "charsets: not a JSON object"),
        (_parsed(**{"attachment-info": "{"}), 422, "attachment-info: not valid JSON"),
    ],
)
async def test_incomplete_posts_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    inbound: Inbound,
    fields: list[tuple[str, str | bytes]],
    status: int,
    detail: str,
) -> None:
    body, content_type = multipart(fields)
    response = await _post(client, body, content_type)
    assert response.status_code == status
    assert response.json()["detail"] == detail
    await nothing_published(inbound)


async def test_malformed_bodies_are_refused(client: httpx.AsyncClient, inbound: Inbound) -> None:
    body, headers = _sample()
    truncated = await client.post(URL, content=body[: len(body) // 2], headers=headers)
    assert truncated.status_code == 422
    assert "truncated" in truncated.json()["detail"]

    no_boundary = await client.post(
        URL, content=body, headers={**headers, "Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 422

    raw_garbage, content_type = multipart([("email", b"\x00\xff no headers at all")])
    garbage = await _post(client, raw_garbage, content_type)
    assert garbage.status_code == 422
    assert garbage.json()["detail"] == "email.To: missing or not an email address"

    for wrong in ("application/json", "application/x-www-form-urlencoded", ""):
        response = await client.post(URL, content=body, headers={**headers, "Content-Type": wrong})
        assert response.status_code == 415
    await nothing_published(inbound)


async def test_oversized_bodies_are_cut_off(webhook_settings: Settings, inbound: Inbound) -> None:
    small = webhook_settings.model_copy(update={"email_max_body_bytes": 4096})
    body, content_type = multipart(_parsed(text="x" * 100_000))
    headers = {"Content-Type": content_type, **AUTH}
    async with app_client(small) as (_, http):
        declared = await http.post(URL, content=body, headers=headers)
        assert declared.status_code == 413

        pulled: list[int] = []
        streamed = await http.post(URL, content=chunked(body, 1024, pulled), headers=headers)
        assert streamed.status_code == 413
        assert len(pulled) < len(body) // 1024  # refused while reading, not after
    await nothing_published(inbound)


async def test_an_unconfigured_token_refuses_everything(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    body, headers = _sample()
    unconfigured = webhook_settings.model_copy(update={"sendgrid_inbound_token": None})
    async with app_client(unconfigured) as (_, http):
        response = await http.post(URL, content=body, headers=headers)
    assert response.status_code == 503
    assert response.json()["type"].endswith("/not-configured")
    await nothing_published(inbound)


async def test_a_broker_outage_answers_503_with_retry_after(webhook_settings: Settings) -> None:
    body, headers = _sample()
    assert_transport_unavailable(await post_during_outage(webhook_settings, [(URL, body, headers)]))


_FIELD_NAMES = st.sampled_from(
    [
        "from",
        "to",
        "subject",
        "text",
        "html",
        "headers",
        "envelope",
        "charsets",
        "email",
        "attachment-info",
        "attachments",
        "spam_score",
        "x",
    ]
)
_VALUES = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(["Maria <maria@example.net>", '{"to":["s@x.example"]}', '{"text":"bogus"}']),
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.lists(st.tuples(_FIELD_NAMES, _VALUES), max_size=8),
    raw=st.binary(max_size=300),
    use_raw=st.booleans(),
    content_type=st.sampled_from(
        ["multipart/form-data; boundary=xYzZY", "multipart/form-data; boundary=", "text/plain"]
    ),
)
async def test_arbitrary_authenticated_posts_never_fail_with_a_5xx(
    client: httpx.AsyncClient,
    fields: list[tuple[str, str | bytes]],
    raw: bytes,
    use_raw: bool,
    content_type: str,
) -> None:
    body = raw if use_raw else multipart(fields)[0]
    response = await client.post(URL, content=body, headers={"Content-Type": content_type, **AUTH})
    assert response.status_code in (200, 413, 415, 422), response.text
