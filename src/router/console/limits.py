"""Request limits of the console API: body size, and per-caller rates of polls and replies.

Rates are kept per process (a token bucket per caller: an API key, or the person an identity
provider's tokens name): with N router processes a caller gets up to N times the rate, which
is enough to stop a runaway console without a shared store.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from router.errors import PROBLEM_JSON, PROBLEM_PATH, PayloadTooLarge, ProblemError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class RateLimited(ProblemError):
    status = 429
    problem = "rate-limited"
    title = "Too many requests from this caller"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class KeyRateLimit:
    """A token bucket per caller: `per_minute` on average, bursts of up to `burst`."""

    def __init__(self, what: str, per_minute: int, burst: int) -> None:
        self._what = what
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    def take(self, caller_id: uuid.UUID, now: float | None = None) -> None:
        """Spend one token of the caller, or raise `RateLimited` with the wait until the next."""
        moment = time.monotonic() if now is None else now
        tokens, since = self._buckets.get(caller_id, (self._burst, moment))
        tokens = min(self._burst, tokens + (moment - since) * self._rate)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self._rate)
            self._buckets[caller_id] = (tokens, moment)
            raise RateLimited(
                f"too many {self._what} from this caller; retry later", retry_after=wait
            )
        self._buckets[caller_id] = (tokens - 1, moment)


class BodyLimit:
    """Refuses bodies over `limit` bytes under `prefix` with 413, before the app reads them.

    The body is read here (it is small by definition) and replayed to the app; the
    declared length is checked first so an honest oversized request costs nothing. A
    request whose client disconnects before the body is complete never reaches the app.
    """

    def __init__(
        self,
        app: Any,
        *,
        limit: int,
        prefix: str = "/v1/",
        problem_base: str = PROBLEM_PATH,
        uploads: tuple[re.Pattern[str], int] | None = None,
    ) -> None:
        self._app = app
        self._limit = limit
        # File uploads (POST to paths matching the pattern) may be as big as a file may be.
        self._uploads = uploads
        self._prefix = prefix
        self._problem_base = problem_base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return
        limit = self._limit
        if (
            self._uploads is not None
            and scope["method"] == "POST"
            and self._uploads[0].fullmatch(scope["path"])
        ):
            limit = self._uploads[1]
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before its body was whole: a partial body is never acted
                # on, and nobody is there to answer.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self._app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        refusal = PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        body = json.dumps(refusal.body(base=self._problem_base)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
