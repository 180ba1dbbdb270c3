"""Every error leaves as RFC 9457 `application/problem+json`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
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
from router.errors import PROBLEM_JSON, DatabaseUnavailable, ProblemError, problem_base
from router.inbound.storable import SURROGATE_REFUSED
from router.problems.catalogue import HTTP_PROBLEMS, PROBLEM_TYPES

log = logging.getLogger(__name__)

# RFC 9457: a problem with no meaning beyond its HTTP status.
ABOUT_BLANK = "about:blank"


def problem_response(
    status: int,
    problem: str,
    title: str,
    detail: str,
    *,
    base: str,
    headers: Mapping[str, str] | None = None,
    **extensions: object,
) -> Response:
    """A problem+json answer of type `base + problem` (or `about:blank`, taken as is)."""
    kind = problem if problem == ABOUT_BLANK else base + problem
    body = {"type": kind, "title": title, "status": status, "detail": detail}
    body.update(extensions)
    return Response(
        json.dumps(body, default=str), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _message(error: Mapping[str, Any]) -> str:
    # pydantic's words for a lone surrogate (a JSON `\ud800` escape) do not say what is wrong.
    if error["type"] == "string_unicode":
        return SURROGATE_REFUSED
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "JSON decode error")
        offset = error["loc"][-1]
        where = f" at character {offset}" if isinstance(offset, int) else ""
        return f"the body is not valid JSON: {reason}{where}"
    return str(error["msg"])


def _field(error: Mapping[str, Any]) -> str:
    # A JSON syntax error's location ends in a character offset, not a field.
    location = error["loc"][:1] if error["type"] == "json_invalid" else error["loc"]
    return ".".join(str(part) for part in location)


def _unreadable_body(error: HTTPException) -> str | None:
    """Why FastAPI could not read a JSON body, when that is what this 400 is about.

    FastAPI answers a body it cannot even decode (bytes that are not UTF-8 text) with a bare
    400 raised from the decoding error, where a JSON syntax error is a 422 naming the body;
    both are answered alike here, as the 422 the operations document.
    """
    if error.status_code != 400 or not isinstance(error.__cause__, ValueError):
        return None
    if isinstance(error.__cause__, UnicodeDecodeError):
        return "the body is not valid JSON: it is not UTF-8 text"
    return "the body is not valid JSON"


class ProblemAnswers:
    """The exception handlers, with the prefix of problem types of this deployment."""

    def __init__(self, base: str) -> None:
        self.base = base

    async def problem(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, ProblemError)
        return Response(
            json.dumps(error.body(request.url.path, self.base), default=str),
            status_code=error.status,
            media_type=PROBLEM_JSON,
            headers=error.headers,
        )

    async def validation(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = [{"field": _field(item), "message": _message(item)} for item in error.errors()]
        return self.invalid_request(errors)

    def invalid_request(self, errors: list[dict[str, str]]) -> Response:
        first = errors[0] if errors else {"field": "", "message": "invalid"}
        return problem_response(
            422,
            "invalid-request",
            PROBLEM_TYPES["invalid-request"].title,
            f"{first['field']}: {first['message']}",
            base=self.base,
            errors=errors,
        )

    async def http(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        unreadable = _unreadable_body(error)
        if unreadable is not None:
            return self.invalid_request([{"field": "body", "message": unreadable}])
        problem = HTTP_PROBLEMS.get(error.status_code)
        if problem is None:
            title = HTTPStatus(error.status_code).phrase
            kind = ABOUT_BLANK
        else:
            title = PROBLEM_TYPES[problem].title
            kind = problem
        # The headers matter to the caller: Allow on a 405, WWW-Authenticate, Retry-After.
        return problem_response(
            error.status_code, kind, title, str(error.detail), base=self.base, headers=error.headers
        )

    async def unexpected(self, request: Request, error: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            500,
            "internal",
            PROBLEM_TYPES["internal"].title,
            "an unexpected error occurred",
            base=self.base,
        )

    async def database(self, request: Request, error: Exception) -> Response:
        """A database error: 503 when the database is out of reach, else an internal error."""
        if not is_unreachable(error):
            return await self.unexpected(request, error)
        # A restart, a failover or a full pool: the caller may try again shortly.
        log.warning(
            "the database is unavailable", extra={"path": request.url.path, "error": repr(error)}
        )
        return await self.problem(
            request, DatabaseUnavailable("the database is unavailable; try again shortly")
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


# Errors the database and its driver raise (and the pool's wait for a free connection).
# Handled here rather than as any `Exception`, which Starlette re-raises after answering.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeout,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


def install(app: FastAPI, public_base_url: str | None = None) -> None:
    """Answer every error as problem+json, with types under `public_base_url` when given."""
    answers = ProblemAnswers(problem_base(public_base_url))
    app.add_exception_handler(ProblemError, answers.problem)
    app.add_exception_handler(RequestValidationError, answers.validation)
    app.add_exception_handler(HTTPException, answers.http)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, answers.database)
    app.add_exception_handler(Exception, answers.unexpected)
