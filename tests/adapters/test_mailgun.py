"""Mailgun routes (forward and store notifications) through the real app onto real Kafka."""

from __future__ import annotations

import json
import time
from email.message import EmailMessage
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr

from adapters.channels.webhook import hmac_hex, verify_equal
from router.errors import BadSignature
from router.inbound.envelope import MessageKind
from router.settings import Settings
from tests.adapters.channel_requests import (
    assert_transport_unavailable,
    chunked,
    nothing_published,
    post_during_outage,
)
from tests.adapters.conftest import Inbound
from tests.adapters.email_requests import (
    FilePart,
    email_events,
    mailgun_forward,
    mailgun_signature,
    mailgun_signed,
    multipart,
)
from tests.adapters.payloads import signature_vectors
from tests.support import app_client

URL = "/webhooks/email/mailgun"
FORM = "application/x-www-form-urlencoded"
[_VECTOR] = signature_vectors("mailgun")


_forward = mailgun_forward


async def _post_form(client: httpx.AsyncClient, fields: dict[str, str]) -> httpx.Response:
    return await client.post(URL, content=urlencode(fields), headers={"Content-Type": FORM})


async def test_a_forwarded_email_becomes_one_threaded_event(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    response = await _post_form(client, mailgun_signed(_forward()))
    assert response.status_code == 200
    assert response.content == b""

    [(record, event)] = await email_events(inbound, 1)
    assert record.key == event.conversation_key.encode()
    assert event.provider == "mailgun"
    assert event.provider_message_id == "caf3gk9u=mg-1@mail.example.net"
    assert event.conversation_key == "email:order-4521@mg.example.com"
    assert (event.customer.value, event.customer.display_name) == (
        "maria@example.net",
        "Maria Lopez",
    )
    assert event.recipient == "support@mg.example.com"
    assert event.subject == "Re: Your order #4521"
    assert event.text.startswith("Still nothing.\n\nOn Mon")
    assert event.stripped_text == "Still nothing."  # Mailgun's own stripped-text
    assert event.kind is MessageKind.TEXT
    assert event.metadata["mode"] == "forward"


async def test_header_fields_alone_are_enough_for_threading(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    fields = _forward(**{"message-headers": "<absent>", "stripped-text": "<absent>"})
    assert (await _post_form(client, mailgun_signed(fields))).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    assert event.provider_message_id == "caf3gk9u=mg-1@mail.example.net"
    assert event.conversation_key == "email:order-4521@mg.example.com"
    assert event.stripped_text == "Still nothing."  # our own stripping of body-plain


async def test_attached_files_travel_as_metadata_only(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    secret = b"CONFIDENTIAL-CONTENT" * 50
    only_files = {"attachment-count": "2", "body-plain": "", "stripped-text": ""}
    fields = mailgun_signed(_forward(**only_files, **{"body-html": "", "stripped-html": ""}))
    body, content_type = multipart(
        list(fields.items()),
        [
            FilePart("attachment-1", "contract.pdf", "application/pdf", secret),
            FilePart("attachment-2", "photo.png", "image/png", b"\x89PNG" + secret),
        ],
    )
    response = await client.post(URL, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200

    [(record, event)] = await email_events(inbound, 1)
    assert [(a.filename, a.content_type, a.size) for a in event.attachments] == [
        ("contract.pdf", "application/pdf", len(secret)),
        ("photo.png", "image/png", len(secret) + 4),
    ]
    assert event.kind is MessageKind.MEDIA
    assert b"CONFIDENTIAL" not in record.value


async def test_a_store_notification_carries_attachment_urls(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    stored = [
        {
            "url": "https://storage.mailgun.net/v3/domains/mg.example.com/messages/AbC/attachments/0",
            "content-type": "application/pdf",
            "name": "invoice.pdf",
            "size": 48213,
        }
    ]
    fields = _forward(
        domain="mg.example.com",
        attachments=json.dumps(stored),
        **{"message-url": "https://storage.mailgun.net/v3/domains/mg.example.com/messages/AbC"},
    )
    assert (await _post_form(client, mailgun_signed(fields))).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    [file] = event.attachments
    assert (file.filename, file.content_type, file.size, file.url) == (
        "invoice.pdf",
        "application/pdf",
        48213,
        stored[0]["url"],
    )
    assert event.metadata["mode"] == "store"


async def test_a_mime_route_posts_the_whole_message(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    message = EmailMessage()
    message["From"] = "Maria Lopez <maria@example.net>"
    message["To"] = "support@mg.example.com"
    message["Subject"] = "New question"
    message["Message-ID"] = "<Mime-1@mail.example.net>"
    message.set_content("Do you ship to Iceland?\n-- \nMaria")
    fields = mailgun_signed(
        {
            "recipient": "support@mg.example.com",
            "sender": "maria@example.net",
            "from": "Maria Lopez <maria@example.net>",
            "subject": "New question",
            "body-mime": message.as_string(),
        }
    )
    assert (await _post_form(client, fields)).status_code == 200
    [(_, event)] = await email_events(inbound, 1)
    assert event.provider_message_id == "mime-1@mail.example.net"
    assert event.conversation_key == "email:mime-1@mail.example.net"
    assert event.stripped_text == "Do you ship to Iceland?"
    assert event.metadata["mode"] == "mime"


def test_the_published_mailgun_vector_is_reproduced() -> None:
    inputs = _VECTOR["inputs"]
    signature = mailgun_signature(inputs["timestamp"], inputs["token"], inputs["signing_key"])
    assert signature == _VECTOR["expected"]
    key, signed = inputs["signing_key"].encode(), (inputs["timestamp"] + inputs["token"]).encode()
    verify_equal(hmac_hex(key, signed), _VECTOR["expected"], "signature")
    refused = (inputs["timestamp"] + _VECTOR["refused"]["token"]).encode()
    with pytest.raises(BadSignature):
        verify_equal(hmac_hex(key, refused), _VECTOR["expected"], "signature")


async def test_the_published_vector_passes_the_signature_and_fails_the_clock(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    """Signed right but from 2014: refused as stale, which proves the HMAC check passed."""
    inputs = _VECTOR["inputs"]
    keyed = webhook_settings.model_copy(
        update={"mailgun_signing_key": SecretStr(inputs["signing_key"])}
    )
    vector = {
        "timestamp": inputs["timestamp"],
        "token": inputs["token"],
        "signature": _VECTOR["expected"],
    }
    negative = {**vector, **_VECTOR["refused"]}
    async with app_client(keyed) as (_, http):
        good = await _post_form(http, {**_forward(), **vector})
        bad = await _post_form(http, {**_forward(), **negative})
    assert good.status_code == 401
    assert good.json()["type"].endswith("/replayed-request")
    assert bad.status_code == 401
    assert bad.json()["type"].endswith("/bad-signature")
    await nothing_published(inbound)


async def test_signature_failures_are_refused(client: httpx.AsyncClient, inbound: Inbound) -> None:
    signed = mailgun_signed(_forward())
    unsigned = {k: v for k, v in signed.items() if k != "signature"}
    wrong = {**signed, "signature": "0" * 64}
    other_key = mailgun_signed(_forward(), key="not-our-key")
    moved_timestamp = {**signed, "timestamp": str(int(signed["timestamp"]) + 1)}
    swapped_token = {**signed, "token": "another-token-" + "x" * 36}
    for fields, detail in [
        (unsigned, "the signature is missing"),
        (wrong, "the signature does not match"),
        (other_key, "the signature does not match"),
        (moved_timestamp, "the signature does not match"),
        (swapped_token, "the signature does not match"),
    ]:
        response = await _post_form(client, fields)
        assert response.status_code == 401, fields
        assert response.json()["detail"] == detail
    await nothing_published(inbound)


async def test_stale_future_and_replayed_posts_are_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    now = int(time.time())
    # Just past the window stays past it however slow the run; the future one needs a margin
    # for the time the posts take, or a loaded machine brings it back inside the window.
    for timestamp in (now - 301, now + 330):
        response = await _post_form(client, mailgun_signed(_forward(), timestamp=timestamp))
        assert response.status_code == 401
        assert response.json()["type"].endswith("/replayed-request")

    fields = mailgun_signed(_forward())
    assert (await _post_form(client, fields)).status_code == 200
    replay = await _post_form(client, {**fields, "body-plain": "Send the refund elsewhere"})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert len(await email_events(inbound, 1)) == 1


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        (
            _forward(recipient="<absent>", **{"message-headers": "[]"}),
            "recipient: missing or not an email address",
        ),
        (_forward(**{"message-headers": "{"}), "message-headers: not valid JSON"),
        (
            _forward(**{"message-headers": "[[1, 2]]"}),
            "message-headers[0]: not a [name, value] pair",
        ),
        (_forward(attachments='{"a": 1}'), "attachments: not a JSON list"),
    ],
)
async def test_incomplete_posts_are_refused_naming_the_field(
    client: httpx.AsyncClient, inbound: Inbound, fields: dict[str, str], detail: str
) -> None:
    response = await _post_form(client, mailgun_signed(fields))
    assert response.status_code == 422
    assert response.json()["detail"] == detail
    await nothing_published(inbound)


async def test_malformed_bodies_are_refused(client: httpx.AsyncClient, inbound: Inbound) -> None:
    fields = mailgun_signed(_forward())
    body, content_type = multipart(list(fields.items()))
    truncated = await client.post(URL, content=body[:-40], headers={"Content-Type": content_type})
    assert truncated.status_code == 422
    assert "truncated" in truncated.json()["detail"]

    cut_form = await client.post(
        URL, content=urlencode(fields)[:-30], headers={"Content-Type": FORM}
    )
    assert cut_form.status_code == 401  # the cut lands in the signed fields

    for wrong in ("application/json", "text/plain", ""):
        response = await client.post(
            URL, content=urlencode(fields), headers={"Content-Type": wrong}
        )
        assert response.status_code == 415
    await nothing_published(inbound)


async def test_oversized_bodies_are_cut_off(webhook_settings: Settings, inbound: Inbound) -> None:
    small = webhook_settings.model_copy(update={"email_max_body_bytes": 4096})
    body = urlencode(mailgun_signed(_forward(**{"body-plain": "x" * 100_000}))).encode()
    headers = {"Content-Type": FORM}
    async with app_client(small) as (_, http):
        assert (await http.post(URL, content=body, headers=headers)).status_code == 413
        pulled: list[int] = []
        streamed = await http.post(URL, content=chunked(body, 1024, pulled), headers=headers)
        assert streamed.status_code == 413
        assert len(pulled) < len(body) // 1024
    await nothing_published(inbound)


async def test_an_unconfigured_key_refuses_everything(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    unconfigured = webhook_settings.model_copy(update={"mailgun_signing_key": None})
    async with app_client(unconfigured) as (_, http):
        response = await _post_form(http, mailgun_signed(_forward()))
    assert response.status_code == 503
    assert response.json()["type"].endswith("/not-configured")
    await nothing_published(inbound)


async def test_a_broker_outage_answers_503_with_retry_after(webhook_settings: Settings) -> None:
    body = urlencode(mailgun_signed(_forward())).encode()
    assert_transport_unavailable(
        await post_during_outage(webhook_settings, [(URL, body, {"Content-Type": FORM})])
    )


_FIELD_NAMES = st.sampled_from(
    [
        "from",
        "sender",
        "recipient",
        "subject",
        "body-plain",
        "stripped-text",
        "body-html",
        "message-headers",
        "Message-Id",
        "References",
        "attachments",
        "body-mime",
        "Date",
    ]
)
_VALUES = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["Maria <maria@example.net>", "[]", '[["From", "a@b.example"]]', "[1]"]),
)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(_FIELD_NAMES, _VALUES, max_size=8),
    as_multipart=st.booleans(),
    garbage=st.one_of(st.none(), st.binary(max_size=200)),
)
async def test_arbitrary_signed_posts_never_fail_with_a_5xx(
    client: httpx.AsyncClient,
    fields: dict[str, str],
    as_multipart: bool,
    garbage: bytes | None,
) -> None:
    signed = mailgun_signed(fields)
    if as_multipart:
        body, content_type = multipart(list(signed.items()))
    else:
        body, content_type = urlencode(signed).encode(), FORM
    if garbage is not None:
        body = body[: len(body) // 2] + garbage
    response = await client.post(URL, content=body, headers={"Content-Type": content_type})
    assert response.status_code in (200, 401, 413, 415, 422), response.text
