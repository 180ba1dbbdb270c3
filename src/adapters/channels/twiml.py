"""The TwiML documents of a live call: connecting, holding, ringing an agent, the voicemail.

Only verbs, nouns and attributes Twilio documents are used, every callback URL is absolute
(built from the public base URL, as the signature check rebuilds it) and carries what the
next callback needs in its query; Twilio signs the whole URL, so none of it can be forged.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from router.voice.schemas import EndpointKind
from router.voice.service import Ring, Voicemail

CONNECTING = "Thank you for calling. Please hold while we connect you."
GOODBYE = "Thank you for your message. Goodbye."
LEAVE_A_MESSAGE = "Please leave a message after the tone."
# Seconds between two looks for the engine's offer while the caller holds.
HOLD_SECONDS = 2
# Twilio transcribes recordings of up to two minutes only.
LONGEST_RECORDING_SECONDS = 120

VOICE = "/webhooks/twilio/voice"
_NOUNS = {EndpointKind.NUMBER: "Number", EndpointKind.SIP: "Sip", EndpointKind.CLIENT: "Client"}


def _document(*verbs: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"
    ).encode()


def _attributes(values: Mapping[str, str]) -> str:
    return " ".join(f"{name}={quoteattr(value)}" for name, value in values.items())


def _url(base_url: str, path: str, query: Mapping[str, str]) -> str:
    return f"{base_url}{VOICE}{path}?{urlencode(dict(query))}"


def wait_url(base_url: str, caller: str, line: str, polls: int) -> str:
    """Where a holding caller asks again; `polls`: how often they asked before."""
    return _url(base_url, "/wait", {"From": caller, "To": line, "poll": str(polls)})


def _redirect(url: str) -> str:
    return f'<Redirect method="POST">{escape(url)}</Redirect>'


def connecting_twiml(base_url: str, caller: str, line: str) -> bytes:
    """The first answer: the caller is being connected, then waits for the engine's offer."""
    return _document(
        f"<Say>{escape(CONNECTING)}</Say>", _redirect(wait_url(base_url, caller, line, 0))
    )


def hold_twiml(base_url: str, caller: str, line: str, polls: int) -> bytes:
    """A short pause, then ask again."""
    return _document(
        f'<Pause length="{HOLD_SECONDS}"/>', _redirect(wait_url(base_url, caller, line, polls))
    )


def wait_again_twiml(base_url: str, caller: str, line: str) -> bytes:
    """Straight back to waiting: the next look finds the next offer, or nobody free."""
    return _document(_redirect(wait_url(base_url, caller, line, 0)))


def ring_twiml(base_url: str, caller: str, line: str, ring: Ring) -> bytes:
    """Dial the offered agent's endpoint for their ring time; both outcomes call us back."""
    offer = {
        "conversation": str(ring.conversation_id),
        "agent": str(ring.agent_id),
        "offer": str(ring.offer),
    }
    dial = {
        "action": _url(base_url, "/dialed", {**offer, "From": caller, "To": line}),
        "method": "POST",
        "timeout": str(ring.ring_seconds),
        "answerOnBridge": "true",
    }
    noun = {
        "statusCallbackEvent": "answered",
        "statusCallback": _url(base_url, "/answered", offer),
        "statusCallbackMethod": "POST",
    }
    name = _NOUNS[ring.endpoint_kind]
    return _document(
        f"<Dial {_attributes(dial)}><{name} {_attributes(noun)}>{escape(ring.endpoint)}</{name}>"
        "</Dial>"
    )


def voicemail_twiml(base_url: str, caller: str, line: str, voicemail: Voicemail) -> bytes:
    """The queue's wait message (and music), then a recorded voicemail with its callbacks."""
    # The recording callback lacks From/To; our own (signed) URLs carry them instead.
    thread = {"From": caller, "To": line}
    record = {
        "action": f"{base_url}{VOICE}/recorded",
        "method": "POST",
        "maxLength": str(LONGEST_RECORDING_SECONDS),
        "playBeep": "true",
        "recordingStatusCallback": _url(base_url, "/recording", thread),
        "recordingStatusCallbackMethod": "POST",
        "transcribe": "true",
        "transcribeCallback": _url(base_url, "/transcription", thread),
    }
    music = f"<Play>{escape(voicemail.music_url)}</Play>" if voicemail.music_url else ""
    return _document(
        f"<Say>{escape(voicemail.wait_message)}</Say>",
        music,
        f"<Say>{escape(LEAVE_A_MESSAGE)}</Say>",
        f"<Record {_attributes(record)}/>",
    )


def goodbye_twiml() -> bytes:
    """Thank the caller and end the call."""
    return _document(f"<Say>{escape(GOODBYE)}</Say>", "<Hangup/>")


def hangup_twiml() -> bytes:
    """End the call: it was with an agent, and is over."""
    return _document("<Hangup/>")
