"""Twilio requests for the tests: messages, calls and their callbacks, signed as Twilio signs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.adapters.channel_requests import twilio_signed
from tests.adapters.conftest import fixture

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
CUSTOMER, LINE = "+14155550199", "+14155550100"
CALL_SID = "CA5c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f"


def sms_params(**overrides: str | None) -> list[tuple[str, str]]:
    """An inbound SMS; an override of None leaves the parameter out."""
    params: dict[str, str | None] = {
        "MessageSid": "SM0000000000000000000000000000000a",
        "AccountSid": "ACa1b2c3d4e5f60718293a4b5c6d7e8f90",
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
        "AccountSid": "ACa1b2c3d4e5f60718293a4b5c6d7e8f90",
        "ApiVersion": "2010-04-01",
        **extra,
    }
    return list(params.items())


def call_params(**overrides: str | None) -> list[tuple[str, str]]:
    """The sample call's parameters; an override of None leaves the parameter out."""
    params = dict(parse_qsl(fixture("twilio_voice_incoming_call.json")["request"]["raw_body"]))
    for key, value in overrides.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return list(params.items())


def recording_params(**overrides: str) -> list[tuple[str, str]]:
    """A recording status callback as Twilio sends it: no From, no To."""
    params = {
        "AccountSid": "ACa1b2c3d4e5f60718293a4b5c6d7e8f90",
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
    client: httpx.AsyncClient, url: str, params: list[tuple[str, str]]
) -> httpx.Response:
    """POST to a path or to one of our public callback URLs, signed as Twilio would."""
    parts = urlsplit(url)
    body, headers = twilio_signed(parts.path, params, query=parts.query)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return await client.post(target, content=body, headers=headers)
