"""Twilio Messaging (SMS, MMS, WhatsApp) and the Twilio signature, on the real app and topic."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adapters.channels.twilio import twilio_signature, url_variants, verify_signature
from router.errors import BadSignature
from router.inbound.envelope import DeliveryUpdate, InboundMessage, MessageKind
from router.settings import Settings
from tests.adapters.channel_requests import (
    assert_transport_unavailable,
    by_conversation,
    nothing_published,
    post_during_outage,
    problem,
    published,
    refused_while_reading,
    twilio_signed,
)
from tests.adapters.conftest import SECRETS, Inbound
from tests.adapters.payloads import payload, signature_vectors, signed
from tests.adapters.twilio_requests import (
    CUSTOMER,
    EMPTY_TWIML,
    LINE,
    message_status_params,
    post_signed,
    sms_params,
)
from tests.support import app_client

SMS = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/sms/status"


SAMPLES = ("twilio_sms_inbound.json", "twilio_voice_incoming_call.json")


def sample() -> tuple[bytes, dict[str, str]]:
    """The stored incoming SMS (tests/payloads), signed with the test auth token."""
    return signed(payload("twilio_sms_inbound.json"))


def test_every_published_vector_and_signed_sample_verifies() -> None:
    published_vectors = signature_vectors("twilio")
    assert len(published_vectors) == 6
    for vector in published_vectors:
        token = vector["inputs"]["auth_token"].encode()
        url = vector["inputs"]["url"]
        params = [tuple(pair) for pair in vector["inputs"]["params"]]
        assert twilio_signature(token, url, params) == vector["expected"], vector["name"]
        verify_signature(token, url, params, vector["expected"])
        if "body" in vector["inputs"]:
            digest = hashlib.sha256(vector["inputs"]["body"].encode()).hexdigest()
            assert parse_qs(urlsplit(url).query)["bodySHA256"] == [digest]
    token = SECRETS["twilio_auth_token"].encode()
    for name in SAMPLES:
        stored = payload(name)
        _, headers = signed(stored)
        assert twilio_signature(token, stored.url, stored.params) == headers["X-Twilio-Signature"]
        verify_signature(token, stored.url, stored.params, headers["X-Twilio-Signature"])
        with pytest.raises(BadSignature):
            verify_signature(b"54321", stored.url, stored.params, headers["X-Twilio-Signature"])


def test_the_default_port_is_accepted_either_way() -> None:
    vectors = {v["name"]: v for v in signature_vectors("twilio")}
    documented = vectors["documented example"]
    params = [tuple(pair) for pair in documented["inputs"]["params"]]
    token = b"12345"
    without = "https://mycompany.com/myapp.php?foo=1&bar=2"
    signed_with_443 = vectors["https URL signed with :443"]
    signed_with_80 = vectors["http URL signed with :80"]
    # Twilio signed with :443, we know the URL without it, and the other way round.
    verify_signature(token, without, params, signed_with_443["expected"])
    verify_signature(token, signed_with_443["inputs"]["url"], params, documented["expected"])
    verify_signature(
        token, "http://mycompany.com/myapp.php?foo=1&bar=2", params, signed_with_80["expected"]
    )
    # A port that is not the default is part of the URL: never dropped, never added.
    odd = vectors["http URL with port 1234"]
    with pytest.raises(BadSignature):
        verify_signature(
            token, "http://mycompany.com/myapp.php?foo=1&bar=2", params, odd["expected"]
        )
    assert url_variants("http://mycompany.com:1234/a") == ["http://mycompany.com:1234/a"]
    assert url_variants("https://h.example:443/a?b=1") == [
        "https://h.example:443/a?b=1",
        "https://h.example/a?b=1",
    ]
    assert url_variants("https://[::1]/a") == ["https://[::1]/a", "https://[::1]:443/a"]
    with pytest.raises(BadSignature):
        verify_signature(token, without, params, None)


async def test_mms_media_become_attachment_metadata(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    media = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME"
    params = sms_params(
        MessageSid="MM1",
        Body="",
        NumMedia="2",
        MediaUrl0=media + "0",
        MediaContentType0="image/jpeg",
        MediaUrl1=media + "1",
        MediaContentType1="video/mp4",
    )
    assert (await post_signed(client, SMS, params)).status_code == 200
    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert event.kind is MessageKind.MEDIA
    assert [(a.url, a.content_type) for a in event.attachments] == [
        (media + "0", "image/jpeg"),
        (media + "1", "video/mp4"),
    ]


async def test_whatsapp_via_twilio_is_a_whatsapp_message(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    params = sms_params(
        MessageSid="SMwa1",
        From="whatsapp:" + CUSTOMER,
        To="whatsapp:" + LINE,
        ProfileName="Sheena Nelson",
        WaId=CUSTOMER.removeprefix("+"),
        ButtonPayload="YES",
    )
    assert (await post_signed(client, SMS, params)).status_code == 200
    [(record, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert record.key == f"whatsapp:{CUSTOMER}|{LINE}".encode()
    assert event.channel == "whatsapp"
    assert (event.customer.kind, event.customer.value) == ("whatsapp", CUSTOMER)
    assert event.customer.display_name == "Sheena Nelson"
    assert event.recipient == LINE
    assert event.metadata["button_payload"] == "YES"


async def test_status_callbacks_become_delivery_updates_in_the_same_conversation(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body, headers = sample()
    assert (await client.post(SMS, content=body, headers=headers)).status_code == 200
    for status in ("queued", "sending", "sent", "delivered", "read", "received"):
        assert (await post_signed(client, STATUS, message_status_params(status))).status_code == 200
    failed = message_status_params(
        "undelivered", "SMout2", ErrorCode="30003", ErrorMessage="Unreachable"
    )
    response = await post_signed(client, STATUS, failed)
    assert response.content == EMPTY_TWIML
    whatsapp = message_status_params("failed", "SMout3", ErrorCode="63016")
    whatsapp = [(k, f"whatsapp:{v}" if k in ("From", "To") else v) for k, v in whatsapp]
    assert (await post_signed(client, STATUS, whatsapp)).status_code == 200

    conversations = by_conversation(await published(inbound, 8))
    # The customer's message and the news about our reply share a conversation.
    message, *rest = conversations[f"sms:{CUSTOMER}|{LINE}"]
    assert isinstance(message, InboundMessage)
    updates = [update for update in rest if isinstance(update, DeliveryUpdate)]
    assert len(updates) == len(rest)
    assert [(u.provider_message_id, u.status) for u in updates] == [
        ("SMout1", "queued"),
        ("SMout1", "queued"),
        ("SMout1", "sent"),
        ("SMout1", "delivered"),
        ("SMout1", "read"),
        ("SMout2", "failed"),
    ]
    assert updates[5].error == "30003: Unreachable: undelivered"
    [whatsapp_update] = conversations[f"whatsapp:{CUSTOMER}|{LINE}"]
    assert isinstance(whatsapp_update, DeliveryUpdate)
    assert (whatsapp_update.channel, whatsapp_update.status) == ("whatsapp", "failed")


async def test_a_replayed_message_carries_the_same_dedupe_key(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body, headers = sample()
    for _ in range(2):
        assert (await client.post(SMS, content=body, headers=headers)).status_code == 200
    found = await published(inbound, 2)
    message_sid = dict(payload("twilio_sms_inbound.json").params)["MessageSid"]
    assert {event.provider_message_id for _, event in found} == {message_sid}


async def test_the_url_with_the_default_port_is_accepted(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    params = sms_params()
    body, _ = twilio_signed(SMS, params)
    url = "https://router.example.test:443" + SMS
    signature = twilio_signature(b"12345", url, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    assert (await client.post(SMS, content=body, headers=headers)).status_code == 200
    await published(inbound, 1)


def _signatures() -> dict[str, str | None]:
    params = sms_params()
    return {
        "missing": None,
        "empty": "",
        "zeros": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        # Over the URL the app sees directly, not the public one Twilio called.
        "internal URL": twilio_signature(b"12345", "http://router.test" + SMS, params),
        "other route": twilio_signed(STATUS, params)[1]["X-Twilio-Signature"],
        "other token": twilio_signed(SMS, params, token="54321")[1]["X-Twilio-Signature"],
    }


@pytest.mark.parametrize("case", list(_signatures()))
async def test_missing_or_wrong_signatures_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, case: str
) -> None:
    body, headers = twilio_signed(SMS, sms_params())
    signature = _signatures()[case]
    if signature is None:
        del headers["X-Twilio-Signature"]
    else:
        headers["X-Twilio-Signature"] = signature
    problem(await client.post(SMS, content=body, headers=headers), 401, "bad-signature")
    await nothing_published(inbound)


async def test_tampered_and_truncated_bodies_are_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    body, headers = sample()
    tampered = body.replace(b"Friday", b"Monday")
    assert tampered != body
    problem(await client.post(SMS, content=tampered, headers=headers), 401, "bad-signature")
    cut = body[: len(body) // 2]
    problem(await client.post(SMS, content=cut, headers=headers), 401, "bad-signature")
    # Signed as it arrived: a valid but incomplete form, refused for the first missing field
    # (its first half still has the older `SmsSid`, which names the message).
    resigned = twilio_signed(SMS, parse_qsl(cut.decode(), keep_blank_values=True))[1]
    detail = problem(await client.post(SMS, content=cut, headers=resigned), 422, "invalid-payload")
    assert detail["detail"] == "From: missing"
    await nothing_published(inbound)


async def test_oversized_bodies_are_refused_while_reading(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    limit = webhook_settings.webhook_max_body_bytes
    oversized = twilio_signed(SMS, sms_params(Body="x" * limit))
    await refused_while_reading(client, inbound, SMS, oversized, limit)


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", ""])
async def test_other_content_types_are_refused(
    client: httpx.AsyncClient, inbound: Inbound, content_type: str
) -> None:
    body, headers = sample()
    sent = {**headers, "Content-Type": content_type}
    problem(await client.post(SMS, content=body, headers=sent), 415, "unsupported-media-type")
    await nothing_published(inbound)


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        (SMS, sms_params(MessageSid=None), "MessageSid: missing"),
        (SMS, sms_params(From=None), "From: missing"),
        (SMS, sms_params(To=" "), "To: missing"),
        (SMS, sms_params(From="whatsapp: "), "From: missing"),
        (SMS, sms_params(NumMedia="two"), "NumMedia: not a count up to 50"),
        (SMS, sms_params(NumMedia="1000000"), "NumMedia: not a count up to 50"),
        (SMS, sms_params(NumMedia="1"), "MediaUrl0: missing"),
        (SMS, sms_params(MessageSid="SM" + "1" * 300), "MessageSid: longer than 255 characters"),
        (STATUS, message_status_params("sent")[1:], "MessageSid: missing"),
        (
            STATUS,
            [
                p
                for p in message_status_params("sent")
                if p[0] not in ("MessageStatus", "SmsStatus")
            ],
            "MessageStatus: missing",
        ),
        (STATUS, [p for p in message_status_params("sent") if p[0] != "To"], "To: missing"),
    ],
)
async def test_missing_or_malformed_fields_are_named(
    client: httpx.AsyncClient,
    inbound: Inbound,
    path: str,
    params: list[tuple[str, str]],
    detail: str,
) -> None:
    body = problem(await post_signed(client, path, params), 422, "invalid-payload")
    assert body["detail"] == detail
    await nothing_published(inbound)


async def test_a_body_that_is_not_utf8_form_data_is_a_422(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    for body in (b"Body=%FF%FE&From=%2B1", b"Body=\xff"):
        response = await client.post(SMS, content=body, headers=headers)
        assert problem(response, 422, "invalid-payload")["detail"] == "body: not UTF-8 form data"
    many = "&".join(f"k{n}=v" for n in range(1001)).encode()
    response = await client.post(SMS, content=many, headers=headers)
    assert problem(response, 422, "invalid-payload")["detail"] == "body: more than 1000 fields"
    await nothing_published(inbound)


async def test_without_an_auth_token_every_request_is_refused(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    unconfigured = webhook_settings.model_copy(update={"twilio_auth_token": None})
    body, headers = sample()
    async with app_client(unconfigured) as (_, http):
        for path in (SMS, STATUS):
            response = await http.post(path, content=body, headers=headers)
            assert problem(response, 503, "not-configured")["setting"] == "ROUTER_TWILIO_AUTH_TOKEN"
    await nothing_published(inbound)


async def test_a_broker_outage_is_a_503_with_retry_after(webhook_settings: Settings) -> None:
    body, headers = sample()
    status_body, status_headers = twilio_signed(STATUS, message_status_params("delivered"))
    responses = await post_during_outage(
        webhook_settings, [(SMS, body, headers), (STATUS, status_body, status_headers)]
    )
    assert_transport_unavailable(responses)


_KEYS = st.sampled_from(
    [
        "MessageSid",
        "MessageStatus",
        "From",
        "To",
        "Body",
        "NumMedia",
        "MediaUrl0",
        "MediaContentType0",
        "ErrorCode",
        "ProfileName",
    ]
)
_VALUES = st.sampled_from(
    ["SM1", CUSTOMER, LINE, "whatsapp:" + CUSTOMER, "1", "0", "delivered", "failed", ""]
) | st.text(max_size=40)
_PARAMS = st.lists(st.tuples(_KEYS | st.text(max_size=10), _VALUES), max_size=12)


@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from([SMS, STATUS]),
    params=_PARAMS,
    raw=st.none() | st.binary(max_size=200),
    signature=st.text(max_size=40),
    content_type=st.sampled_from(["application/x-www-form-urlencoded"]) | st.text(max_size=30),
)
async def test_arbitrary_requests_never_cause_a_server_error(
    client: httpx.AsyncClient,
    path: str,
    params: list[tuple[str, str]],
    raw: bytes | None,
    signature: str,
    content_type: str,
) -> None:
    body, headers = twilio_signed(path, params)
    if raw is not None:
        # Garbage bytes, with a garbage signature and content type.
        body, headers = raw, {"X-Twilio-Signature": signature, "Content-Type": content_type}
    try:
        response = await client.post(path, content=body, headers=headers)
    except UnicodeEncodeError:
        return  # a header httpx itself cannot send never reaches the app
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
