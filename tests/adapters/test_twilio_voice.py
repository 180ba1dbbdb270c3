"""Twilio Voice: an incoming call, its voicemail and its status, on the real app and topic."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adapters.channels.twilio_calls import MAX_POLLS
from router.inbound.envelope import CallStatus, CallUpdate, InboundMessage, MessageKind
from router.settings import Settings
from tests.adapters.channel_requests import (
    PUBLIC,
    assert_transport_unavailable,
    by_conversation,
    nothing_published,
    post_during_outage,
    problem,
    published,
    refused_while_reading,
    twilio_signed,
)
from tests.adapters.conftest import Inbound
from tests.adapters.payloads import payload, send, signed
from tests.adapters.twilio_requests import (
    CALL_SID,
    CUSTOMER,
    EMPTY_TWIML,
    LINE,
    THREAD_QUERY,
    call_params,
    call_status_params,
    post_signed,
    recording_params,
    transcription_params,
)
from tests.support import app_client

VOICE = "/webhooks/twilio/voice"
RECORDED = "/webhooks/twilio/voice/recorded"
STATUS = "/webhooks/twilio/voice/status"
RECORDING = "/webhooks/twilio/voice/recording"
TRANSCRIPTION = "/webhooks/twilio/voice/transcription"
WAIT = "/webhooks/twilio/voice/wait"
ANSWERED = "/webhooks/twilio/voice/answered"
DIALED = "/webhooks/twilio/voice/dialed"
CALLER = CUSTOMER
KEY = f"voice:{CALLER}|{LINE}"


async def record_verb(
    client: httpx.AsyncClient, answer: httpx.Response, params: list[tuple[str, str]]
) -> dict[str, str]:
    """The voicemail's <Record> a caller reaches when nobody takes the call.

    The first answer holds the caller for the engine's offer; no engine runs here, so the
    caller's last permitted look (`poll` at its limit) offers the voicemail.
    """
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["Say", "Redirect"]
    assert "connect" in (root[0].text or "")
    wait = urlsplit(root[1].text or "")
    query = dict(parse_qsl(wait.query))
    assert query["poll"] == "0"
    last = urlencode({**query, "poll": str(MAX_POLLS)})
    voicemail = await post_signed(client, f"{wait.path}?{last}", params)
    root = ElementTree.fromstring(voicemail.content)
    assert [child.tag for child in root] == ["Say", "Say", "Record"]
    return dict(root[2].attrib)


async def test_an_incoming_call_holds_and_reaches_the_voicemail_when_nobody_answers(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    """The call's envelope is checked in test_payloads; here the TwiML that answers it."""
    response = await send(client, payload("twilio_voice_incoming_call.json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    record = await record_verb(client, response, call_params())
    assert record == {
        "action": f"{PUBLIC}{RECORDED}",
        "method": "POST",
        "maxLength": "120",
        "playBeep": "true",
        "recordingStatusCallback": f"{PUBLIC}{RECORDING}?{THREAD_QUERY}",
        "recordingStatusCallbackMethod": "POST",
        "transcribe": "true",
        "transcribeCallback": f"{PUBLIC}{TRANSCRIPTION}?{THREAD_QUERY}",
    }
    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, InboundMessage)
    assert (event.conversation_key, event.kind) == (KEY, MessageKind.CALL)
    assert event.metadata == {"call_sid": CALL_SID, "call_status": "ringing"}


async def test_the_whole_voicemail_joins_the_callers_conversation(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    answer = await post_signed(client, VOICE, call_params())
    record = await record_verb(client, answer, call_params())

    # The caller hangs up after the tone: Twilio asks the action, which says goodbye.
    goodbye = await post_signed(client, record["action"], call_params(RecordingSid="RE1"))
    root = ElementTree.fromstring(goodbye.content)
    assert [child.tag for child in root] == ["Say", "Hangup"]

    recording = await post_signed(client, record["recordingStatusCallback"], recording_params())
    assert recording.content == EMPTY_TWIML
    transcript = await post_signed(client, record["transcribeCallback"], transcription_params())
    assert transcript.status_code == 200
    completed = await post_signed(
        client, STATUS, call_status_params("completed", CallDuration="31")
    )
    assert completed.status_code == 200

    found = [event for _, event in await published(inbound, 4)]
    assert {event.conversation_key for event in found} == {KEY}
    call, voicemail, text, status = found
    assert isinstance(voicemail, InboundMessage)
    assert voicemail.kind is MessageKind.VOICEMAIL
    assert voicemail.provider_message_id == "RE0a1b2c3d4e5f60718293a4b5c6d7e8f"
    assert (voicemail.customer.value, voicemail.recipient) == (CALLER, LINE)
    [audio] = voicemail.attachments
    assert audio.url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0a1b"
    assert audio.content_type == "audio/x-wav"
    assert voicemail.metadata["recording_duration_seconds"] == "14"
    assert isinstance(text, InboundMessage)
    assert text.kind is MessageKind.VOICEMAIL
    assert text.provider_message_id == "TR0a1b2c3d4e5f60718293a4b5c6d7e8f"
    assert text.text == "Hi, it's about order 4521, please call me back."
    assert text.metadata["recording_sid"] == voicemail.provider_message_id
    # The status updates the call (same provider id); it is no second message.
    assert isinstance(status, CallUpdate)
    assert (status.provider_message_id, status.status) == (CALL_SID, CallStatus.COMPLETED)
    assert status.duration_seconds == 31
    assert status.provider_timestamp == datetime(2025, 6, 17, 12, 1, tzinfo=UTC)
    assert call.provider_message_id == CALL_SID
    assert (status.call.provider_message_id, status.call.kind) == (CALL_SID, MessageKind.CALL)


async def test_a_withheld_caller_is_known_for_that_call_only(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    withheld = call_params(From="anonymous", Caller="anonymous")
    answer = await post_signed(client, VOICE, withheld)
    record = await record_verb(client, answer, withheld)
    await post_signed(client, record["recordingStatusCallback"], recording_params())
    other = await post_signed(client, VOICE, call_params(From="+266696687", CallSid="CA2"))
    assert other.status_code == 200
    # A withheld-caller value the numbering plan would take for a real number.
    placed = await post_signed(client, VOICE, call_params(From="+8656696", CallSid="CA3"))
    assert placed.status_code == 200

    conversations = by_conversation(await published(inbound, 4))
    call, voicemail = conversations[f"voice:withheld:{CALL_SID}|{LINE}"]
    [other_call] = conversations[f"voice:withheld:CA2|{LINE}"]
    assert isinstance(call, InboundMessage)
    assert isinstance(voicemail, InboundMessage)
    assert isinstance(other_call, InboundMessage)
    assert call.customer.value == voicemail.customer.value == f"withheld:{CALL_SID}"
    assert voicemail.kind is MessageKind.VOICEMAIL
    assert other_call.customer.value == "withheld:CA2"
    [placed_call] = conversations[f"voice:withheld:CA3|{LINE}"]
    assert isinstance(placed_call, InboundMessage)
    assert placed_call.customer.value == "withheld:CA3"


async def test_every_call_status_is_an_update_of_the_call(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    statuses = [status.value for status in CallStatus]
    assert statuses == [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    ]
    for status in statuses:
        response = await post_signed(client, STATUS, call_status_params(status, CallDuration="9"))
        assert response.content == EMPTY_TWIML
    # A status Twilio may add one day is skipped, not refused.
    assert (await post_signed(client, STATUS, call_status_params("answered"))).status_code == 200
    updates = [event for _, event in await published(inbound, len(statuses))]
    assert all(isinstance(update, CallUpdate) for update in updates)
    assert [(u.type, u.conversation_key, u.provider_message_id) for u in updates] == [
        ("router.call.updated", KEY, CALL_SID)
    ] * len(statuses)
    assert [(u.status, u.duration_seconds) for u in updates if isinstance(u, CallUpdate)] == [
        (status, 9) for status in statuses
    ]


async def test_unfinished_voicemail_callbacks_publish_nothing(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    for recording_status in ("in-progress", "absent", "failed"):
        params = recording_params(RecordingStatus=recording_status)
        assert (await post_signed(client, RECORDING, params)).status_code == 200
    for transcription in (
        transcription_params(TranscriptionStatus="failed"),
        transcription_params(TranscriptionText="  "),
    ):
        assert (await post_signed(client, TRANSCRIPTION, transcription)).status_code == 200
    await nothing_published(inbound)


async def test_statuses_of_calls_we_placed_name_the_customer_on_the_to_side(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    params = call_status_params("no-answer", From=LINE, To=CALLER, Direction="outbound-api")
    assert (await post_signed(client, STATUS, params)).status_code == 200
    [(_, event)] = await published(inbound, 1)
    assert isinstance(event, CallUpdate)
    assert event.conversation_key == KEY
    assert event.status is CallStatus.NO_ANSWER
    assert event.call.customer.value == CALLER
    assert event.call.direction == "outbound"


async def test_a_forged_thread_in_a_callback_url_is_refused(
    client: httpx.AsyncClient, inbound: Inbound
) -> None:
    answer = await post_signed(client, VOICE, call_params())
    signed_url = (await record_verb(client, answer, call_params()))["recordingStatusCallback"]
    parts = urlsplit(signed_url)
    body, headers = twilio_signed(parts.path, recording_params(), query=parts.query)
    forged = parts.path + "?" + urlencode({"From": "+12025550199", "To": LINE})
    problem(await client.post(forged, content=body, headers=headers), 401, "bad-signature")
    await published(inbound, 1)  # only the call itself


@pytest.mark.parametrize(
    "path", [VOICE, RECORDED, STATUS, RECORDING, TRANSCRIPTION, WAIT, ANSWERED, DIALED]
)
async def test_every_route_refuses_unsigned_tampered_and_foreign_requests(
    client: httpx.AsyncClient, inbound: Inbound, path: str
) -> None:
    body, headers = twilio_signed(path, call_params())
    unsigned = {"Content-Type": headers["Content-Type"]}
    problem(await client.post(path, content=body, headers=unsigned), 401, "bad-signature")
    tampered = body.replace(b"ringing", b"completed")
    problem(await client.post(path, content=tampered, headers=headers), 401, "bad-signature")
    _, foreign = twilio_signed(path, call_params(), token="not-ours")
    problem(await client.post(path, content=body, headers=foreign), 401, "bad-signature")
    problem(await client.post(path, content=body[:-9], headers=headers), 401, "bad-signature")
    json_headers = {**headers, "Content-Type": "application/json"}
    problem(
        await client.post(path, content=body, headers=json_headers), 415, "unsupported-media-type"
    )
    await nothing_published(inbound)


async def test_oversized_bodies_are_refused_while_reading(
    client: httpx.AsyncClient, inbound: Inbound, webhook_settings: Settings
) -> None:
    limit = webhook_settings.webhook_max_body_bytes
    oversized = twilio_signed(VOICE, call_params(CallerName="x" * limit))
    await refused_while_reading(client, inbound, VOICE, oversized, limit)


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        (VOICE, call_params(CallSid=None), "CallSid: missing"),
        (VOICE, call_params(From=None), "From: missing"),
        (VOICE, call_params(To=" "), "To: missing"),
        (
            STATUS,
            [p for p in call_status_params("busy") if p[0] != "CallStatus"],
            "CallStatus: missing",
        ),
        (
            STATUS,
            call_status_params("busy", Timestamp="yesterday"),
            "Timestamp: not an RFC 2822 date",
        ),
        (RECORDING, recording_params()[:2], "RecordingSid: missing"),
        (
            RECORDING,
            [p for p in recording_params() if p[0] != "RecordingUrl"],
            "RecordingUrl: missing",
        ),
        (RECORDING, [p for p in recording_params() if p[0] != "CallSid"], "CallSid: missing"),
        # Not one of our callback URLs: no From/To in the query, none in the form.
        (RECORDING, recording_params(), "From: missing"),
        (
            TRANSCRIPTION,
            [p for p in transcription_params() if p[0] != "TranscriptionSid"],
            "TranscriptionSid: missing",
        ),
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


async def test_without_an_auth_token_every_route_is_refused(
    webhook_settings: Settings, inbound: Inbound
) -> None:
    unconfigured = webhook_settings.model_copy(update={"twilio_auth_token": None})
    body, headers = twilio_signed(VOICE, call_params())
    async with app_client(unconfigured) as (_, http):
        for path in (VOICE, RECORDED, STATUS, RECORDING, TRANSCRIPTION):
            response = await http.post(path, content=body, headers=headers)
            assert problem(response, 503, "not-configured")["setting"] == "ROUTER_TWILIO_AUTH_TOKEN"
    await nothing_published(inbound)


async def test_a_broker_outage_is_a_503_with_retry_after(webhook_settings: Settings) -> None:
    body, headers = signed(payload("twilio_voice_incoming_call.json"))
    recording_url = f"{RECORDING}?{THREAD_QUERY}"
    recording_body, recording_headers = twilio_signed(
        RECORDING, recording_params(), query=urlsplit(recording_url).query
    )
    responses = await post_during_outage(
        webhook_settings,
        [
            (VOICE, body, headers),
            (recording_url, recording_body, recording_headers),
        ],
    )
    assert_transport_unavailable(responses)


_KEYS = st.sampled_from(
    [
        "CallSid",
        "CallStatus",
        "From",
        "To",
        "Direction",
        "Timestamp",
        "CallDuration",
        "RecordingSid",
        "RecordingUrl",
        "RecordingStatus",
        "TranscriptionSid",
        "TranscriptionText",
        "TranscriptionStatus",
    ]
)
_VALUES = st.sampled_from(
    [CALL_SID, CALLER, LINE, "anonymous", "completed", "outbound-api", "busy", "14", ""]
) | st.text(max_size=40)


@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from([VOICE, RECORDED, STATUS, RECORDING, TRANSCRIPTION]),
    params=st.lists(st.tuples(_KEYS | st.text(max_size=10), _VALUES), max_size=12),
    query=st.sampled_from(["", THREAD_QUERY, "From=x"])
    | st.text(max_size=30).map(lambda text: f"From={text}"),
    raw=st.none() | st.binary(max_size=200),
)
async def test_arbitrary_requests_never_cause_a_server_error(
    client: httpx.AsyncClient,
    path: str,
    params: list[tuple[str, str]],
    query: str,
    raw: bytes | None,
) -> None:
    url = path + (f"?{query}" if query else "")
    try:
        if raw is None:
            response = await post_signed(client, url, params)
        else:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": "x",
            }
            response = await client.post(url, content=raw, headers=headers)
    except (UnicodeEncodeError, httpx.InvalidURL):
        return  # a request httpx itself cannot send never reaches the app
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
