"""The answers to a caller who is not known (401), not allowed (403), or not checkable (503)."""

from __future__ import annotations

from router.errors import ProblemError

# RFC 6750: a 401 names the scheme; a presented but unusable token says why.
CHALLENGE = 'Bearer realm="router"'


class Unauthorized(ProblemError):
    status = 401
    problem = "unauthorized"
    title = "A valid API key or identity token is required"

    def __init__(self, detail: str, *, presented: bool) -> None:
        challenge = f'{CHALLENGE}, error="invalid_token"' if presented else CHALLENGE
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ProblemError):
    status = 403
    problem = "forbidden"
    title = "The caller may not do this"


class IdentityProviderUnavailable(ProblemError):
    """No signing keys of the identity provider could be fetched, so no token can be checked.

    Not the caller's fault, and not a 500: the provider is unreachable; retrying later helps.
    """

    status = 503
    problem = "identity-provider-unavailable"
    title = "The identity provider cannot be reached"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
