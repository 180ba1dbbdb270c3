"""Compact JSON text for what the router stores and publishes: history details, metadata.

Encoded with orjson, several times faster than the standard library's encoder on the
documents routing writes per message (a decision's audit takes about 1 µs instead of 10).
The text is compact (no spaces) and UTF-8 (non-ASCII characters are not `\\u`-escaped);
UUIDs, datetimes (RFC 3339) and enums are written as themselves, any other value as its
`str`, and non-string keys as strings, as the standard encoder would. Text orjson refuses
(a lone surrogate, which a payload's `"\\ud800"` escape can produce) is written by the
standard encoder instead.
"""

from __future__ import annotations

import json
from datetime import datetime

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def compact_json(value: object) -> str:
    """`value` as compact JSON text."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return standard_json(value)


def standard_json(value: object) -> str:
    """`value` as compact JSON by the standard encoder, for text orjson refuses.

    Non-ASCII characters (and lone surrogates) are `\\u`-escaped; datetimes are written as
    orjson writes them (RFC 3339), anything else unknown as its `str`.
    """
    return json.dumps(value, separators=(",", ":"), default=_as_text)


def _as_text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
