"""Opaque keyset cursors: the sort key of the last item, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from router.errors import ProblemError


class InvalidCursor(ProblemError):
    status = 422
    problem = "invalid-cursor"
    title = "The cursor is not one this API issued"


def encode(*values: datetime | uuid.UUID | int) -> str:
    """A cursor after an item with this sort key."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps([str(v) if isinstance(v, uuid.UUID) else v for v in plain])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _parts(cursor: str, count: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidCursor("the cursor cannot be read") from None
    if not isinstance(parts, list) or len(parts) != count:
        raise InvalidCursor("the cursor cannot be read")
    return parts


def decode_time_id(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a conversation or message cursor points after."""
    at, ident = _parts(cursor, 2)
    try:
        moment = datetime.fromisoformat(at)
        key = uuid.UUID(ident)
    except (TypeError, ValueError):
        raise InvalidCursor("the cursor cannot be read") from None
    if moment.tzinfo is None:
        raise InvalidCursor("the cursor cannot be read")
    return moment, key


def decode_int(cursor: str) -> int:
    """The event id an event cursor points after."""
    (value,) = _parts(cursor, 1)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCursor("the cursor cannot be read")
    return value
