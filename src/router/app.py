"""The HTTP app factory: webhooks in, consoles and health out."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI

from adapters.channels import webhook_routers
from router import __version__, api_docs, exception_handlers
from router.admin.endpoints import router as admin_router
from router.bootstrap import running_router
from router.console.endpoints import router as console_router
from router.console.limits import BodyLimit
from router.console.runtime import ConsoleRuntime, running_console
from router.fastpath import WebhookFastPath, fast_routes
from router.health.endpoints import router as health_router
from router.openapi import build_openapi
from router.presence.endpoints import router as presence_router
from router.settings import Settings, get_settings
from router.state import RouterState


class LifespanState(TypedDict):
    router: RouterState
    console: ConsoleRuntime


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan starts the database, the transport and the console."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[LifespanState]:
        from adapters.identity import signing_keys
        from adapters.outbound.directory import ProviderDirectory

        async with (
            running_router(settings) as state,
            running_console(state, ProviderDirectory(settings), signing_keys(settings)) as console,
        ):
            app.state.router = state
            app.state.console = console
            # What start-up made (modules, the app, pools) lives as long as the process: keep
            # it out of the collector's full passes, which otherwise walk all of it while
            # every webhook in flight waits.
            gc.freeze()
            yield {"router": state, "console": console}

    app = FastAPI(
        title="Conversation router",
        version=__version__,
        summary="Omnichannel conversation routing: every conversation has exactly one owner.",
        lifespan=lifespan,
        docs_url=None,  # served from the router's own assets by api_docs, not from a CDN
        redoc_url=None,
    )
    exception_handlers.install(app)
    api_docs.install(app)
    webhooks = webhook_routers()
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    # Added last, so outermost: webhooks skip the layers above, every request gets its id.
    app.add_middleware(WebhookFastPath, routes=fast_routes(webhooks))
    app.include_router(health_router)
    for webhook_router in webhooks:
        app.include_router(webhook_router)  # as is: the fast routes' paths are the routers'
    app.include_router(console_router)
    app.include_router(admin_router)
    app.include_router(presence_router)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
