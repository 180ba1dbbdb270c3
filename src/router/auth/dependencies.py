"""FastAPI dependencies: the caller of a request (API key or identity provider token), and
role checks on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from router.auth.errors import Forbidden, Unauthorized
from router.auth.roles import Role
from router.auth.service import KeyTouches, Principal, authenticate, token_principal
from router.auth.tokens import looks_like_jwt
from router.console.runtime import ConsoleRuntime
from router.db import transaction
from router.inbound.envelope import utcnow
from router.state import RouterState

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description=(
        "An API key issued by `router create-key`, sent as `Authorization: Bearer rk_...`; "
        "or, when an identity provider is configured (`ROUTER_JWT_*`), a JWT it issued, "
        "sent as `Authorization: Bearer <jwt>`, with the router role and the agent's "
        "handle in its claims."
    ),
)
_touches = KeyTouches()


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of this request; 401 with a Bearer challenge when no valid key came with it.

    Tokens are told apart by shape: `rk_...` is an API key, a dotted JWT goes to the identity
    provider's verifier when one is configured (and is otherwise refused as no API key).
    """
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`", presented=False)
    token = credentials.credentials
    state: RouterState = request.app.state.router
    console: ConsoleRuntime = request.app.state.console
    if console.tokens is not None and looks_like_jwt(token):
        verified = await console.tokens.verify(token)
        return await token_principal(state.sessions, verified)
    async with transaction(state.sessions) as session:
        return await authenticate(session, token, utcnow(), _touches)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only callers of the given roles through (403 otherwise)."""
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise Forbidden(f"this needs the role {names}")
        return principal

    return check


Supervisor = Annotated[Principal, Depends(require_role(Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
