"""Structured JSON logs, one object a line, with the request id of the work in hand.

Message bodies, addresses and phone numbers are never logged by the router; fields that may
hold them are only added when `ROUTER_LOG_BODIES` is on (see `personal`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_log_bodies = False
_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Taken when the record is made: a handler may format it later, outside the request.
    record = _make_record(*args, **kwargs)
    current = request_id.get()
    if current is not None:
        record.request_id = current
    return record


logging.setLogRecordFactory(_record_with_request_id)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object with its extra fields and the request id."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def configure(level: str, *, log_bodies: bool = False, json_lines: bool = True) -> None:
    """Send every log record to stderr, as JSON lines unless told otherwise."""
    global _log_bodies
    _log_bodies = log_bodies
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def personal(**fields: Any) -> dict[str, Any]:
    """Log fields holding personal data (bodies, addresses): kept only with body logging on."""
    return fields if _log_bodies else {}


def new_request_id(presented: str | None) -> str:
    """The caller's X-Request-ID when it is sane, else a new one."""
    if presented and len(presented) <= 128 and presented.isprintable():
        return presented
    return os.urandom(16).hex()
