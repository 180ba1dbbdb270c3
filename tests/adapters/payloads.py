"""The sample provider requests kept in `tests/payloads/`: loading, signing, checking them.

Each sample is one HTTP request as the provider sends it, stored without its signature; the
signature is computed here from the test secrets (`SECRETS`) when the request is sent, so it
can never go stale. The file also says what the router must answer and publish for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx

from router.inbound.envelope import DeliveryUpdate, InboundMessage
from tests.adapters.channel_requests import PUBLIC, meta_headers, twilio_signature_of
from tests.adapters.conftest import SECRETS
from tests.adapters.email_requests import basic_auth, mailgun_signed

# Inside the repository: the tests read nothing beside their own checkout.
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
SIGNATURE_VECTORS = PAYLOADS / "signature_vectors.json"
SCHEMES = ("basic-auth", "mailgun", "meta", "twilio", "verify-token")


@dataclass(frozen=True)
class Payload:
    """One stored provider request and what the router must make of it."""

    name: str
    provider: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    scheme: str
    secret: str
    expect: dict[str, Any]

    @property
    def target(self) -> str:
        """The path and query to request from the app, which serves the public URL."""
        return self.url.removeprefix(PUBLIC)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    @property
    def params(self) -> list[tuple[str, str]]:
        """The body's form parameters, in the order sent."""
        return parse_qsl(self.body.decode(), keep_blank_values=True)

    def document(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def payload_names() -> list[str]:
    """Every stored sample request, by file name."""
    return sorted(p.name for p in PAYLOADS.glob("*.json") if p != SIGNATURE_VECTORS)


def payload(name: str) -> Payload:
    """A stored sample request; its body comes from `raw_body` or the file `raw_body_file`."""
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    request = data["request"]
    if "raw_body_file" in request:
        body = (PAYLOADS / request["raw_body_file"]).read_bytes()
    else:
        body = request["raw_body"].encode()
    return Payload(
        name=name,
        provider=data["provider"],
        method=request["method"],
        url=request["url"],
        headers=dict(request["headers"]),
        body=body,
        scheme=data["signing"]["scheme"],
        secret=data["signing"]["secret"],
        expect=data["expect"],
    )


def signed(sample: Payload, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers as the provider sends them, signed with a test secret."""
    key = SECRETS[sample.secret] if secret is None else secret
    headers = dict(sample.headers)
    body = sample.body
    if sample.scheme == "basic-auth":
        headers.update(basic_auth(key))
    elif sample.scheme == "meta":
        headers.update(meta_headers(body, key))
    elif sample.scheme == "twilio":
        headers["X-Twilio-Signature"] = twilio_signature_of(sample.url, sample.params, key)
    elif sample.scheme == "mailgun":
        # Mailgun signs a fresh timestamp and a one-off token inside the form itself.
        body += b"&" + urlencode(mailgun_signed({}, key=key)).encode()
    elif sample.scheme == "verify-token":
        # The token travels in the URL; the stored URL must carry the test secret.
        [presented] = parse_qs(urlsplit(sample.url).query)["hub.verify_token"]
        assert presented == key, f"{sample.name}: hub.verify_token is not the test secret"
    else:
        raise AssertionError(f"{sample.name}: unknown signing scheme {sample.scheme!r}")
    return body, headers


async def send(client: httpx.AsyncClient, sample: Payload) -> httpx.Response:
    """Send the sample to the app, signed with the test secret."""
    body, headers = signed(sample)
    return await client.request(sample.method, sample.target, content=body, headers=headers)


def assert_answer(response: httpx.Response, expected: dict[str, Any]) -> None:
    """The response has the status, content type and body the sample expects."""
    assert response.status_code == expected["status"], response.text
    if "content_type" in expected:
        content_type = response.headers["content-type"]
        assert content_type.startswith(expected["content_type"]), content_type
    if "body" in expected:
        assert response.text == expected["body"], response.text


def assert_event(event: InboundMessage | DeliveryUpdate, expected: dict[str, Any]) -> None:
    """Every field the sample names has the value it names (as the envelope's JSON)."""
    found = event.model_dump(mode="json", exclude_none=True)
    differing = {
        field: {"expected": value, "found": found.get(field)}
        for field, value in expected.items()
        if found.get(field) != value
    }
    assert not differing, differing


def signature_vectors(provider: str) -> list[dict[str, Any]]:
    """The published signature test vectors of one provider."""
    vectors: list[dict[str, Any]] = json.loads(SIGNATURE_VECTORS.read_text())["vectors"]
    return [vector for vector in vectors if vector["provider"] == provider]
