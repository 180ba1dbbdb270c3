"""Signed, expiring links to a survey's answer page.

A token is the survey's id and its expiry, with an HMAC-SHA256 over both under
`ROUTER_FEEDBACK_LINK_SECRET`: it names one survey, cannot be forged or extended, and needs no
lookup to refuse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

_MAC_BYTES = 16
_BODY = struct.Struct(">16sQ")


class ForgedToken(ValueError):
    """The token was not made by this router (or not with its current secret)."""


class ExpiredToken(ValueError):
    """The token was made here but its time to answer is over."""


@dataclass(frozen=True)
class SurveyLink:
    survey_id: uuid.UUID
    expires_at: datetime


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, b"feedback.v1." + body, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign(secret: bytes, survey_id: uuid.UUID, expires_at: datetime) -> str:
    """The token of the survey's link."""
    body = _BODY.pack(survey_id.bytes, int(expires_at.timestamp()))
    return _b64(body + _mac(secret, body))


def verify(secret: bytes, token: str, now: datetime) -> SurveyLink:
    """The survey a token names; `ForgedToken` or `ExpiredToken` when it may not be used."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise ForgedToken(token) from None
    if len(raw) != _BODY.size + _MAC_BYTES:
        raise ForgedToken(token)
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        raise ForgedToken(token)
    survey, expires = _BODY.unpack(body)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= now:
        raise ExpiredToken(token)
    return SurveyLink(uuid.UUID(bytes=survey), expires_at)
