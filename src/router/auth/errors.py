"""The answers to a caller who is not known (401) or not allowed (403)."""

from __future__ import annotations

from router.errors import ProblemError

# RFC 6750: a 401 names the scheme; a presented but unusable token says why.
CHALLENGE = 'Bearer realm="router"'


class Unauthorized(ProblemError):
    status = 401
    problem = "unauthorized"
    title = "A valid API key is required"

    def __init__(self, detail: str, *, presented: bool) -> None:
        challenge = f'{CHALLENGE}, error="invalid_token"' if presented else CHALLENGE
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ProblemError):
    status = 403
    problem = "forbidden"
    title = "The caller may not do this"
