"""What every webhook shares: bounded body reading, signature helpers, publish-then-answer.

A webhook handler reads the raw body once (refusing it while reading when it is too big),
verifies the provider's signature over those exact bytes, parses once, publishes the
resulting envelopes and answers only when the transport has them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import from_json
from starlette.requests import ClientDisconnect

from router.errors import (
    PROBLEM_JSON,
    BadSignature,
    InvalidPayload,
    NotConfigured,
    PayloadTooLarge,
    StaleRequest,
    UnsupportedMediaType,
)
from router.inbound.ports import Event
from router.observability.metrics import observe_publish
from router.settings import Settings
from router.state import RouterState

log = logging.getLogger(__name__)


def router_state(request: Request) -> RouterState:
    # By key: `State` finds an attribute only after a failed lookup has raised internally.
    state: RouterState = request.app.state["router"]
    return state


def settings_of(request: Request) -> Settings:
    return router_state(request).settings


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}", limit=limit)
    # The ASGI messages are read as `Request.stream()` reads them, but without its async
    # generator, which costs more than the reading itself. A webhook's body is read once, here.
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes", limit=limit)
            chunks.append(chunk)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
    return b"".join(chunks)


def media_type(request: Request) -> str:
    """The request's media type without parameters, lower-cased."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, *allowed: str) -> str:
    found = media_type(request)
    if found not in allowed:
        raise UnsupportedMediaType(
            f"expected {' or '.join(allowed)}, got {found or 'no content type'}",
            expected=list(allowed),
        )
    return found


def require_secret(secret: SecretStr | None, setting: str) -> bytes:
    """The configured secret; a webhook whose secret is missing refuses every request."""
    if secret is None or not secret.get_secret_value():
        raise NotConfigured(
            f"set {setting} to accept this webhook; requests are refused until then",
            setting=setting,
        )
    return secret.get_secret_value().encode()


def hmac_hex(secret: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret, message, digest).hexdigest()


def verify_equal(expected: str | bytes, presented: str | bytes | None, what: str) -> None:
    """Constant-time comparison; a missing or different signature is a 401."""
    if not presented:
        raise BadSignature(f"the {what} is missing")
    a = expected.encode() if isinstance(expected, str) else expected
    b = presented.encode() if isinstance(presented, str) else presented
    if not hmac.compare_digest(a, b):
        raise BadSignature(f"the {what} does not match")


def check_fresh(
    timestamp: str | int | None, window_seconds: int, *, now: float | None = None
) -> int:
    """Refuse a signed timestamp outside the replay window (either side)."""
    try:
        value = int(timestamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StaleRequest("the signed timestamp is missing or not a number") from None
    current = time.time() if now is None else now
    if abs(current - value) > window_seconds:
        raise StaleRequest(
            f"the signed timestamp is {int(current - value)} s away from now; "
            f"the window is {window_seconds} s"
        )
    return value


def public_url(request: Request) -> str:
    """The URL the provider called, as it saw it (behind a proxy: ROUTER_PUBLIC_BASE_URL)."""
    base = settings_of(request).public_base_url
    if base:
        url = base.rstrip("/") + request.url.path
        return url + (f"?{request.url.query}" if request.url.query else "")
    return str(request.url)


def public_base_url(request: Request) -> str:
    """Scheme, host and any path prefix providers see, without a trailing slash.

    For callback URLs we hand to a provider (they must be the ones `public_url` rebuilds).
    """
    base = settings_of(request).public_base_url
    return (base or str(request.base_url)).rstrip("/")


# A typical message parses in well under a millisecond: inline, that costs less than the
# hand-off to a thread, and a thread running Python holds the GIL against the event loop
# (every webhook in flight waits for it). Only big bodies, whole MIME messages with their
# attachments, are parsed in a thread so the others keep being answered meanwhile.
INLINE_PARSE_BYTES = 256 * 1024

A = TypeVar("A")
R = TypeVar("R")


async def parse_big_off_loop(parse: Callable[[A], R], value: A, size: int) -> R:
    """`parse(value)`: inline for bodies under `INLINE_PARSE_BYTES`, in a thread above."""
    if size < INLINE_PARSE_BYTES:
        return parse(value)
    return await asyncio.to_thread(parse, value)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def publish(request: Request, events: Sequence[Event]) -> None:
    """Hand the events to the transport; returns only once they are durable."""
    if events:
        publisher = router_state(request).publisher
        started = time.perf_counter()
        await publisher.publish(events)
        observe_publish(publisher.name, started)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "webhook events published",
                extra={"event_ids": [event.event_id for event in events], "path": request.url.path},
            )


def field_path(loc: Sequence[str | int], prefix: str = "") -> str:
    """A validation location as the payload's own path: `entry[0].changes[0].value`."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


# The error type of a tagged union's discriminator that matches no member.
UNKNOWN_TAG = "unknown_type"


def invalid_payload(
    error: ValidationError, prefix: str = "", *, tagged: bool = False
) -> InvalidPayload:
    """A pydantic error as a 422 naming the first offending field (`visitor.id: missing`).

    `tagged`: the model is a union told apart by a tag, which pydantic puts first in the
    location; the payload has no such field, so it is left out.
    """
    first = error.errors(include_url=False, include_input=False)[0]
    loc = first["loc"][1:] if tagged else first["loc"]
    if tagged and first["type"] == UNKNOWN_TAG:
        loc = ("type",)
    field = field_path(loc, prefix) or "body"
    message = "missing" if first["type"] == "missing" else first["msg"]
    return InvalidPayload(f"{field}: {message}", field=field)


# A JSON escape of a UTF-16 surrogate: a high one with the low one after it is a pair (one
# character); any other is alone. The backslashes before `\u` must be odd, or it is no escape.
_SURROGATE_ESCAPE = re.compile(
    rb"(?<!\\)((?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|(?<!\\)((?:\\\\)*)\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)

_Body = TypeVar("_Body", bound=BaseModel)


def _lone_surrogates_as_nul(body: bytes) -> bytes:
    """The JSON text with each lone surrogate escape written as `\\u0000` instead.

    JSON allows half a surrogate pair on its own, Python strings hold it, but nothing
    downstream does (pydantic, UTF-8, PostgreSQL). As a NUL it is replaced by U+FFFD where
    every envelope is made storable, and the message records which field was changed.
    """

    def rewrite(match: re.Match[bytes]) -> bytes:
        if match.group(2) is not None:  # a pair: one character, kept
            return match.group(0)
        return (match.group(1) or match.group(3) or b"") + b"\\u0000"

    return _SURROGATE_ESCAPE.sub(rewrite, body)


def json_document(body: bytes) -> Any:
    """The body's JSON value; `ValueError` when it is not JSON (lone surrogates read as NUL)."""
    try:
        return from_json(body)
    except ValueError:
        if b"\\u" not in body:
            raise
        return from_json(_lone_surrogates_as_nul(body))


def json_body(model: type[_Body], body: bytes, *, tagged: bool = False) -> _Body:
    """The body as `model` (lone surrogates read as NUL); a 422 naming the field otherwise.

    `tagged`: `model` is a root model of a tagged union (see `invalid_payload`).
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        if b"\\u" not in body:
            raise invalid_payload(error, tagged=tagged) from None
        first = error
    readable = _lone_surrogates_as_nul(body)
    if readable == body:
        raise invalid_payload(first, tagged=tagged) from None
    try:
        return model.model_validate_json(readable)
    except ValidationError as error:
        raise invalid_payload(error, tagged=tagged) from None


@contextmanager
def envelope_errors(prefix: str = "envelope") -> Iterator[None]:
    """Turn a `ValidationError` from building envelopes into a 422 rather than a 500.

    Adapters bound every field they read to what the envelope accepts; this guards the gap
    a future envelope constraint could open.
    """
    try:
        yield
    except ValidationError as error:
        raise invalid_payload(error, prefix) from None


_PROBLEM_DESCRIPTIONS = {
    401: "The signature is missing or wrong, or the signed timestamp is outside the window",
    403: "The verification token is wrong",
    413: "The body is over the configured limit",
    415: "The content type is not the provider's",
    422: "The payload is malformed or incomplete; `detail` names the field",
    503: "The secret is not configured, or the event log cannot take the event (Retry-After)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring a route's RFC 9457 problem answers."""
    return {
        status: {
            "description": _PROBLEM_DESCRIPTIONS.get(status, "A problem"),
            "content": {PROBLEM_JSON: {"schema": {"type": "object"}}},
        }
        for status in statuses
    }


def verify_basic_auth(request: Request, password: bytes) -> None:
    """HTTP Basic auth whose password is the shared secret (any user name); 401 otherwise.

    For providers that do not sign their webhooks but put credentials in the URL they call
    (`https://user:secret@host/path`), which arrive as an `Authorization: Basic` header.
    """
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Basic realm="webhooks"'}
    if scheme.lower() != "basic" or not credentials.strip():
        raise BadSignature("the basic auth credentials are missing", headers=challenge)
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except ValueError:
        raise BadSignature("the basic auth credentials are malformed", headers=challenge) from None
    _, colon, presented = decoded.partition(b":")
    if not colon or not hmac.compare_digest(presented, password):
        raise BadSignature("the basic auth credentials do not match", headers=challenge)
