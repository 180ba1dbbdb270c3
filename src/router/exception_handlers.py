"""Every error leaves as RFC 9457 `application/problem+json`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from router.db import is_unreachable
from router.errors import PROBLEM_BASE, PROBLEM_JSON, DatabaseUnavailable, ProblemError
from router.inbound.storable import SURROGATE_REFUSED

log = logging.getLogger(__name__)


def problem_response(
    status: int, problem: str, title: str, detail: str, **extensions: object
) -> Response:
    body = {"type": PROBLEM_BASE + problem, "title": title, "status": status, "detail": detail}
    body.update(extensions)
    return Response(json.dumps(body, default=str), status_code=status, media_type=PROBLEM_JSON)


async def _problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, ProblemError)
    return Response(
        json.dumps(error.body(request.url.path), default=str),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


def _message(error: Mapping[str, Any]) -> str:
    # pydantic's words for a lone surrogate (a JSON `\ud800` escape) do not say what is wrong.
    return SURROGATE_REFUSED if error["type"] == "string_unicode" else str(error["msg"])


async def _validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in item["loc"]), "message": _message(item)}
        for item in error.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    return problem_response(
        422,
        "invalid-request",
        "The request is invalid",
        f"{first['field']}: {first['message']}",
        errors=errors,
    )


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return problem_response(
        error.status_code,
        f"http-{error.status_code}",
        str(error.detail),
        str(error.detail),
    )


# nginx's status for a request its client closed before the answer: no error of ours, and
# counted apart from the answers anyone received.
CLIENT_CLOSED_REQUEST = 499


async def _client_disconnect(request: Request, error: Exception) -> Response:
    """The client went away mid-body: nothing was done, and the answer reaches nobody."""
    log.info(
        "the client disconnected before its body was complete", extra={"path": request.url.path}
    )
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(500, "internal", "Internal error", "an unexpected error occurred")


async def _database(request: Request, error: Exception) -> Response:
    """A database error: 503 when the database is out of reach, else an internal error."""
    if not is_unreachable(error):
        return await _unexpected(request, error)
    # A restart, a failover or a full pool: the caller may try again shortly.
    log.warning(
        "the database is unavailable", extra={"path": request.url.path, "error": repr(error)}
    )
    return await _problem(
        request, DatabaseUnavailable("the database is unavailable; try again shortly")
    )


# Errors the database and its driver raise (and the pool's wait for a free connection).
# Handled here rather than as any `Exception`, which Starlette re-raises after answering.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeout,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, _database)
    app.add_exception_handler(Exception, _unexpected)
