"""Structured JSON logs, one object a line, with the request id of the work in hand.

Message bodies, addresses and phone numbers are never logged by the router; fields that may
hold them are only added when `ROUTER_LOG_BODIES` is on (see `personal`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# uvicorn's copy of its message with terminal colour codes, for its own coloured formatter.
_DROPPED = {"color_message"}
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
            if key not in _STANDARD and key not in _DROPPED and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            # The whole traceback in one field: a log line is one record, whatever happened.
            document["exception"] = (
                self.formatException(record.exc_info)
                if _log_bodies or record.exc_info[1] is None
                else without_database_text(record.exc_info[1])
            )
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


# Errors of the database layer whose text may quote the values of a statement: an address
# in a key (`Key (address)=(...)`), a value the driver could not encode, a rejected literal.
_DATABASE_MODULES = ("sqlalchemy", "asyncpg")


def without_database_text(error: BaseException) -> str:
    """The traceback of `error` and its causes, database errors shown without their text.

    A database error keeps its type, SQLSTATE and statement (whose values are bound
    parameters, never in the text); its message, which may quote a customer's data, is
    left out unless `ROUTER_LOG_BODIES` is on.
    """
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        cause = current.__cause__
        current = (
            cause if cause is not None or current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for position, found in enumerate(reversed(chain)):
        if position:
            parts.append("\nThe above exception led to the following one:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(found.__traceback__))
        parts.append(f"{type(found).__module__}.{type(found).__qualname__}: {_text(found)}\n")
    return "".join(parts).rstrip("\n")


def _text(error: BaseException) -> str:
    if type(error).__module__.partition(".")[0] not in _DATABASE_MODULES:
        return str(error)
    shown = ["(text left out: ROUTER_LOG_BODIES is off)"]
    orig = getattr(error, "orig", None)
    code = getattr(error, "sqlstate", None) or getattr(orig, "sqlstate", None)
    if code:
        shown.append(f"SQLSTATE {code}")
    statement = getattr(error, "statement", None)
    if statement:
        shown.append(f"[SQL: {statement}]")
    return " ".join(shown)


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
