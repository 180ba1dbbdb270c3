"""Opaque keyset cursors: the sort key of the last item, base64url-encoded JSON."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from router.errors import ProblemError


class InvalidCursor(ProblemError):
    status = 422
    problem = "invalid-cursor"
    title = "The cursor is not valid"


def encode(*values: datetime | uuid.UUID | int) -> str:
    """A cursor after an item with this sort key."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    raw = json.dumps([str(v) if isinstance(v, uuid.UUID) else v for v in plain])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# The widest range the database's comparisons take from us: a bigint event id, and a time
# that stays within Python's datetime range when moved to UTC (asyncpg does).
_BIGINT = range(-(2**63), 2**63)
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _invalid(parameter: str, why: str) -> InvalidCursor:
    return InvalidCursor(f"{parameter}: the cursor is not valid ({why})", field=parameter)


def _parts(cursor: str, count: int, parameter: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise _invalid(parameter, "it cannot be read") from None
    if not isinstance(parts, list) or len(parts) != count:
        raise _invalid(parameter, "it cannot be read")
    return parts


def decode_time_id(cursor: str, parameter: str = "cursor") -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a conversation or message cursor points after.

    `parameter` names the query parameter in the problem a forged cursor is answered with.
    """
    at, ident = _parts(cursor, 2, parameter)
    try:
        moment = datetime.fromisoformat(at)
        key = uuid.UUID(ident)
    except (TypeError, ValueError, AttributeError):
        raise _invalid(parameter, "it cannot be read") from None
    if moment.tzinfo is None:
        raise _invalid(parameter, "its time has no offset")
    if not _EARLIEST <= moment <= _LATEST:
        raise _invalid(parameter, "its time is out of range")
    return moment, key


def decode_int(cursor: str, parameter: str = "events_cursor") -> int:
    """The event id an event cursor points after."""
    (value,) = _parts(cursor, 1, parameter)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(parameter, "it cannot be read")
    if value not in _BIGINT:
        raise _invalid(parameter, "its id is out of range")
    return value
