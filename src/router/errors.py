"""One error base class carrying an HTTP status and an RFC 9457 problem type."""

from __future__ import annotations

from typing import Any

PROBLEM_PATH = "/problems/"
PROBLEM_JSON = "application/problem+json"


def problem_base(public_base_url: str | None) -> str:
    """The prefix of problem `type` URIs, where the router serves a page per problem type.

    Absolute on the public base URL when one is configured; else the relative reference
    `/problems/` (RFC 9457 resolves it against the URL of the request that failed).
    """
    return (public_base_url or "").rstrip("/") + PROBLEM_PATH


class ProblemError(Exception):
    """An error the API answers as `application/problem+json`; never a 500."""

    status: int = 400
    problem: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None, base: str = PROBLEM_PATH) -> dict[str, Any]:
        """The problem document; `base` prefixes the type (see `problem_base`)."""
        document: dict[str, Any] = {
            "type": base + self.problem,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            document["instance"] = instance
        document.update(self.extensions)
        return document


class InvalidPayload(ProblemError):
    status = 422
    problem = "invalid-payload"
    title = "The payload is malformed or incomplete"


class BadSignature(ProblemError):
    status = 401
    problem = "bad-signature"
    title = "The request's signature is missing or wrong"


class StaleRequest(ProblemError):
    status = 401
    problem = "replayed-request"
    title = "The request is outside the replay window"


class NotConfigured(ProblemError):
    status = 503
    problem = "not-configured"
    title = "This endpoint's secret is not configured"


class PayloadTooLarge(ProblemError):
    status = 413
    problem = "payload-too-large"
    title = "The request body is over the limit"


class UnsupportedMediaType(ProblemError):
    status = 415
    problem = "unsupported-media-type"
    title = "The request's content type is not accepted here"


class Unavailable(ProblemError):
    """A part the request needs is down for now: 503, and when to try again."""

    status = 503

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class TransportUnavailable(Unavailable):
    problem = "transport-unavailable"
    title = "The event log cannot take the event right now"


class DatabaseUnavailable(Unavailable):
    problem = "database-unavailable"
    title = "The database cannot be reached right now"


class NotFound(ProblemError):
    status = 404
    problem = "not-found"
    title = "Not found"


class Conflict(ProblemError):
    status = 409
    problem = "conflict"
    title = "Conflict"
