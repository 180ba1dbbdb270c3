"""The HTTP app factory: webhooks in, consoles and health out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI

from adapters.channels import webhook_routers
from router import __version__, exception_handlers
from router.bootstrap import running_router
from router.health.endpoints import router as health_router
from router.settings import Settings, get_settings
from router.state import RouterState


class LifespanState(TypedDict):
    router: RouterState


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan starts the database and the transport."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[LifespanState]:
        async with running_router(settings) as state:
            app.state.router = state
            yield {"router": state}

    app = FastAPI(
        title="Conversation router",
        version=__version__,
        summary="Omnichannel conversation routing: every conversation has exactly one owner.",
        lifespan=lifespan,
    )
    exception_handlers.install(app)
    app.include_router(health_router)
    for webhook_router in webhook_routers():
        app.include_router(webhook_router)
    return app
