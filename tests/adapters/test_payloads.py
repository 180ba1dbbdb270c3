"""Every stored sample request (tests/payloads) through the real app onto the real topic."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.adapters.channel_requests import PUBLIC, nothing_published, problem, published
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.payloads import (
    PAYLOADS,
    SCHEMES,
    assert_answer,
    assert_event,
    payload,
    payload_names,
    send,
    signed,
)

NAMES = payload_names()
SIGNATURE_HEADERS = {
    "authorization",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-twilio-signature",
}


def test_there_is_a_sample_of_every_provider_and_a_handshake() -> None:
    samples = [payload(name) for name in NAMES]
    assert {sample.provider for sample in samples} == {
        "sendgrid",
        "mailgun",
        "postmark",
        "meta",
        "twilio",
    }
    assert {sample.scheme for sample in samples} == set(SCHEMES)
    assert any(sample.method == "GET" for sample in samples)


@pytest.mark.parametrize("name", NAMES)
def test_each_sample_is_a_whole_request_stored_unsigned(name: str) -> None:
    data = json.loads((PAYLOADS / name).read_text())
    if "raw_body_file" in data["request"]:
        body_file = (PAYLOADS / data["request"]["raw_body_file"]).resolve()
        assert body_file.parent == PAYLOADS  # beside the sample, never outside the repository
    sample = payload(name)
    assert sample.method in ("GET", "POST")
    assert urlsplit(sample.url).scheme == "https"
    assert sample.url.startswith(PUBLIC + "/webhooks/")
    assert sample.scheme in SCHEMES
    assert sample.secret in SECRETS
    # A stored signature would go stale; the tests sign when they send.
    assert not SIGNATURE_HEADERS & {header.lower() for header in sample.headers}
    content_type = sample.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        assert isinstance(sample.document(), dict)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        names = {key for key, _ in sample.params}
        assert names
        assert not names & {"signature", "token", "timestamp"}
    elif content_type.startswith("multipart/form-data"):
        boundary = content_type.partition("boundary=")[2]
        # CRLF line breaks are part of the format: a checkout that rewrote them fails here.
        assert sample.body.startswith(f"--{boundary}\r\n".encode())
        assert sample.body.endswith(f"--{boundary}--\r\n".encode())
    else:
        assert sample.method == "GET"
        assert sample.body == b""
    assert isinstance(sample.expect["response"]["status"], int)
    assert isinstance(sample.expect["events"], list)


@pytest.mark.parametrize("name", NAMES)
async def test_each_sample_is_answered_and_published_as_it_expects(
    client: httpx.AsyncClient, inbound: Inbound, name: str
) -> None:
    sample = payload(name)
    assert_answer(await send(client, sample), sample.expect["response"])
    expected = sample.expect["events"]
    found = await published(inbound, len(expected))
    for (_, event), wanted in zip(found, expected, strict=True):
        assert_event(event, wanted)


@pytest.mark.parametrize("name", [n for n in NAMES if payload(n).scheme != "verify-token"])
async def test_each_sample_is_refused_unsigned_or_signed_with_another_secret(
    client: httpx.AsyncClient, inbound: Inbound, name: str
) -> None:
    sample = payload(name)
    unsigned = await client.request(
        sample.method, sample.target, content=sample.body, headers=sample.headers
    )
    problem(unsigned, 401, "bad-signature")
    body, headers = signed(sample, secret="not-the-test-secret")
    other = await client.request(sample.method, sample.target, content=body, headers=headers)
    problem(other, 401, "bad-signature")
    await nothing_published(inbound)
