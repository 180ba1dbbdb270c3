"""Every log record is one JSON line: no colour codes, a traceback inside its record."""

from __future__ import annotations

import json
import logging
import sys

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from router.observability import logs
from router.observability.logs import JsonFormatter

ADDRESS = "ada.private@example.org"


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "uvicorn.error", "levelno": 20, "levelname": "INFO"})
    record.msg = message
    record.__dict__.update(extra)
    return record


def test_uvicorns_coloured_copy_of_the_message_is_left_out() -> None:
    record = _record(
        "Started server process [%d]", color_message="Started server process [\x1b[36m%d\x1b[0m]"
    )
    record.args = (42,)
    line = JsonFormatter().format(record)
    document = json.loads(line)
    assert document["message"] == "Started server process [42]"
    assert "color_message" not in document
    assert "\x1b" not in line
    assert "\\u001b" not in line


def _raised(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        record = _record("unhandled error")
        record.exc_info = sys.exc_info()
        record.stack_info = "Stack (most recent call last):\n  File 'x.py', line 1, in <module>"
    return record


def test_a_traceback_and_a_stack_stay_inside_one_record() -> None:
    line = JsonFormatter().format(_raised(RuntimeError("the consumer stopped")))
    assert "\n" not in line
    document = json.loads(line)
    assert document["exception"].startswith("Traceback (most recent call last):")
    assert document["exception"].endswith("RuntimeError: the consumer stopped")
    assert document["stack"].startswith("Stack (most recent call last):")


def _database_error() -> DBAPIError:
    # What asyncpg says of a value it cannot encode, as SQLAlchemy wraps it: the value quoted.
    try:
        try:
            raise asyncpg.DataError(f"invalid input for query argument $1: '{ADDRESS}'")
        except asyncpg.DataError as driver:
            raise DBAPIError(
                "INSERT INTO identities (value) VALUES ($1)", (ADDRESS,), driver
            ) from driver
    except DBAPIError as error:
        return error


def test_database_error_text_is_left_out_without_body_logging() -> None:
    line = JsonFormatter().format(_raised(_database_error()))
    document = json.loads(line)
    assert ADDRESS not in line
    assert "asyncpg.exceptions.DataError: (text left out" in document["exception"]
    assert "[SQL: INSERT INTO identities (value) VALUES ($1)]" in document["exception"]
    assert "The above exception led to the following one" in document["exception"]


def test_database_error_text_is_kept_with_body_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_log_bodies", True)
    line = JsonFormatter().format(_raised(_database_error()))
    assert ADDRESS in json.loads(line)["exception"]
