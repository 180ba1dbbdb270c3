"""A small TwiML checker: what Twilio documents for each voice verb and noun, and nothing else.

From Twilio's TwiML Voice reference (verbs `<Say>`, `<Play>`, `<Pause>`, `<Redirect>`,
`<Record>`, `<Dial>`, `<Hangup>`; `<Dial>`'s nouns `<Number>`, `<Sip>`, `<Client>`): the
attributes each takes, which elements nest where, and which attributes are URLs. Our URLs must
be absolute, on the router's public base, so the signature Twilio computes over them verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

_CALLBACK_NOUN = {"url", "method", "statusCallbackEvent", "statusCallback", "statusCallbackMethod"}
ATTRIBUTES: dict[str, set[str]] = {
    "Response": set(),
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Redirect": {"method"},
    "Hangup": set(),
    "Record": {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "maxLength",
        "playBeep",
        "trim",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "transcribe",
        "transcribeCallback",
    },
    "Dial": {
        "action",
        "method",
        "timeout",
        "hangupOnStar",
        "timeLimit",
        "callerId",
        "record",
        "trim",
        "recordingStatusCallback",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "answerOnBridge",
        "ringTone",
        "sequential",
    },
    "Number": {*_CALLBACK_NOUN, "sendDigits", "byoc"},
    "Sip": {*_CALLBACK_NOUN, "username", "password"},
    "Client": _CALLBACK_NOUN,
}
CHILDREN: dict[str, set[str]] = {
    "Response": {"Say", "Play", "Pause", "Redirect", "Hangup", "Record", "Dial"},
    "Dial": {"Number", "Sip", "Client"},
}
URL_ATTRIBUTES = {
    "action",
    "recordingStatusCallback",
    "transcribeCallback",
    "statusCallback",
    "url",
}
TEXT_URLS = {"Redirect", "Play"}
METHODS = {"GET", "POST"}
STATUS_EVENTS = {"initiated", "ringing", "answered", "completed"}


@dataclass(frozen=True)
class Verb:
    """One checked element: its name, attributes, text and children."""

    tag: str
    attributes: dict[str, str]
    text: str
    children: list[Verb]

    def query(self, attribute: str) -> dict[str, str]:
        """The query of one of its URLs, one value per name."""
        url = self.text if attribute == "" else self.attributes[attribute]
        return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def check_twiml(document: bytes, public_base: str) -> list[Verb]:
    """The verbs of a TwiML answer, after checking it against Twilio's documented shapes."""
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), document[:60]
    root = ElementTree.fromstring(document)
    assert root.tag == "Response", root.tag
    return _check(root, public_base).children


def _check(element: ElementTree.Element, public_base: str) -> Verb:
    tag = element.tag
    assert tag in ATTRIBUTES, f"<{tag}> is not a TwiML voice verb or noun we allow"
    unknown = set(element.attrib) - ATTRIBUTES[tag]
    assert not unknown, f"<{tag}> has attributes Twilio does not document: {sorted(unknown)}"
    for name, value in element.attrib.items():
        if name in URL_ATTRIBUTES:
            _absolute(value, public_base, f"<{tag} {name}>")
        if name == "method" or name.endswith("Method"):
            assert value in METHODS, f"<{tag} {name}={value!r}>"
        if name == "statusCallbackEvent":
            assert set(value.split()) <= STATUS_EVENTS, value
        if name in {"timeout", "length", "maxLength", "timeLimit", "loop"}:
            assert value.isdigit(), f"<{tag} {name}={value!r}>"
        if name in {"playBeep", "transcribe", "answerOnBridge", "hangupOnStar"}:
            assert value in {"true", "false"}, f"<{tag} {name}={value!r}>"
    text = (element.text or "").strip()
    if tag in TEXT_URLS:
        _absolute(text, public_base if tag == "Redirect" else "", f"<{tag}>")
    if tag in {"Say", "Number", "Sip", "Client"}:
        assert text, f"<{tag}> needs text"
    if tag in {"Hangup", "Pause", "Record", "Response", "Dial"}:
        assert not text, f"<{tag}> takes no text"
    children = [_check(child, public_base) for child in element]
    allowed = CHILDREN.get(tag, set())
    for child in children:
        assert child.tag in allowed, f"<{child.tag}> cannot be inside <{tag}>"
    if tag == "Dial":
        assert len(children) == 1, "we dial one endpoint at a time"
    return Verb(tag, dict(element.attrib), text, children)


def _absolute(url: str, public_base: str, where: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme in {"https", "http"}, f"{where}: {url!r} is not absolute"
    assert parts.netloc, f"{where}: {url!r} is not absolute"
    if public_base:
        assert url.startswith(public_base + "/"), f"{where}: {url!r} is not on {public_base}"
