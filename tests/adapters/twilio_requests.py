"""Twilio requests for the tests: messages, calls and their callbacks, signed as Twilio signs."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import httpx

from tests.adapters.channel_requests import twilio_signed
from tests.adapters.conftest import SECRETS
from tests.adapters.payloads import payload

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# The customer and our number of the stored SMS and call (tests/payloads), and our account.
CUSTOMER, LINE = "+12025550173", "+13125550148"
ACCOUNT = "AC5e8f0c2b7a9d4e6f1b3c8a0d2e4f6a81"
CALL_SID = "CA3d7a1e9c5b2f8046e1c7a3b9d5f20e84"
# The query our callback URLs carry, naming the call's thread.
THREAD_QUERY = urlencode({"From": CUSTOMER, "To": LINE})


def sms_params(**overrides: str | None) -> list[tuple[str, str]]:
    """An inbound SMS; an override of None leaves the parameter out."""
    params: dict[str, str | None] = {
        "MessageSid": "SM0000000000000000000000000000000a",
        "AccountSid": ACCOUNT,
        "From": CUSTOMER,
        "To": LINE,
        "Body": "Is my parcel on its way?",
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    params.update(overrides)
    return [(key, value) for key, value in params.items() if value is not None]


def message_status_params(status: str, sid: str = "SMout1", **extra: str) -> list[tuple[str, str]]:
    """A status callback for a message we sent: our number is From, the customer To."""
    params = {
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": LINE,
        "To": CUSTOMER,
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        **extra,
    }
    return list(params.items())


def call_params(**overrides: str | None) -> list[tuple[str, str]]:
    """The sample call's parameters; an override of None leaves the parameter out."""
    params = dict(payload("twilio_voice_incoming_call.json").params)
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return list(params.items())


def recording_params(**overrides: str) -> list[tuple[str, str]]:
    """A recording status callback as Twilio sends it: no From, no To."""
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": CALL_SID,
        "RecordingSid": "RE0a1b2c3d4e5f60718293a4b5c6d7e8f",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0a1b",
        "RecordingStatus": "completed",
        "RecordingDuration": "14",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": "Tue, 17 Jun 2025 12:00:05 +0000",
        **overrides,
    }
    return list(params.items())


def transcription_params(**overrides: str) -> list[tuple[str, str]]:
    """A transcription callback: the call's parameters plus the transcript."""
    params = {
        **dict(call_params(CallStatus="completed")),
        "TranscriptionSid": "TR0a1b2c3d4e5f60718293a4b5c6d7e8f",
        "TranscriptionText": "Hi, it's about order 4521, please call me back.",
        "TranscriptionStatus": "completed",
        "TranscriptionUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Transcriptions/TR0",
        "RecordingSid": "RE0a1b2c3d4e5f60718293a4b5c6d7e8f",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0a1b",
        **overrides,
    }
    return list(params.items())


def call_status_params(status: str, **overrides: str) -> list[tuple[str, str]]:
    """A call status callback from the number's status callback URL."""
    params = {
        **dict(call_params(CallStatus=status)),
        "Timestamp": "Tue, 17 Jun 2025 12:01:00 +0000",
        "CallbackSource": "call-progress-events",
        "SequenceNumber": "0",
        **overrides,
    }
    return list(params.items())


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    params: list[tuple[str, str]],
    *,
    token: str = SECRETS["twilio_auth_token"],
) -> httpx.Response:
    """POST to a path or to one of our public callback URLs, signed as Twilio would."""
    parts = urlsplit(url)
    body, headers = twilio_signed(parts.path, params, query=parts.query, token=token)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return await client.post(target, content=body, headers=headers)
