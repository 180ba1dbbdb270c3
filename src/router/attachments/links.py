"""Signed, expiring links to a reply's file, for providers that take media only by URL.

Twilio's `MediaUrl` and Meta's `link` are fetched by the provider, without our credentials,
so the link itself is the permission: the attachment's id and an expiry, signed with HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable

FILES_PATH = "/files/"
_ID_BYTES = 16
_EXPIRY_BYTES = 8
_MAC_BYTES = 16


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class FileLinks:
    """Makes and checks `/files/{token}` links."""

    def __init__(
        self,
        secret: bytes | None,
        base_url: str | None,
        lifetime_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Without a configured key, links work only in this process, and only while it runs.
        self._secret = secret or secrets.token_bytes(32)
        self._base = base_url.rstrip("/") if base_url else None
        self._lifetime = lifetime_seconds
        self._clock = clock

    def token(self, attachment_id: uuid.UUID) -> str:
        """A token naming the attachment until the lifetime has passed."""
        expires = int(self._clock()) + self._lifetime
        signed = attachment_id.bytes + expires.to_bytes(_EXPIRY_BYTES, "big")
        return _encode(signed + self._mac(signed))

    def url(self, attachment_id: uuid.UUID) -> str | None:
        """The public link, or None when no public base URL is configured."""
        if self._base is None:
            return None
        return self._base + FILES_PATH + self.token(attachment_id)

    def attachment(self, token: str) -> uuid.UUID | None:
        """The attachment a token names, or None when it is forged, malformed or expired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        if len(raw) != _ID_BYTES + _EXPIRY_BYTES + _MAC_BYTES:
            return None
        signed, mac = raw[: _ID_BYTES + _EXPIRY_BYTES], raw[_ID_BYTES + _EXPIRY_BYTES :]
        if not hmac.compare_digest(mac, self._mac(signed)):
            return None
        if int.from_bytes(signed[_ID_BYTES:], "big") < self._clock():
            return None
        return uuid.UUID(bytes=signed[:_ID_BYTES])

    def _mac(self, signed: bytes) -> bytes:
        return hmac.new(self._secret, b"file-link\x00" + signed, hashlib.sha256).digest()[
            :_MAC_BYTES
        ]
