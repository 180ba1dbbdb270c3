"""FastAPI dependencies: the bearer key of a request, and role checks on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from router.auth.errors import Forbidden, Unauthorized
from router.auth.service import KeyTouches, Principal, Role, authenticate
from router.db import transaction
from router.inbound.envelope import utcnow
from router.state import RouterState

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key issued by `router create-key`, sent as `Authorization: Bearer rk_...`",
)
_touches = KeyTouches()


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of this request; 401 with a Bearer challenge when no valid key came with it."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("send an API key as `Authorization: Bearer <key>`", presented=False)
    state: RouterState = request.app.state.router
    async with transaction(state.sessions) as session:
        return await authenticate(session, credentials.credentials, utcnow(), _touches)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only keys of the given roles through (403 otherwise)."""
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise Forbidden(f"this needs a key with the role {names}")
        return principal

    return check


Supervisor = Annotated[Principal, Depends(require_role(Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
