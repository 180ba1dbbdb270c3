"""The HTTP app factory: webhooks in, consoles and health out."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI

from adapters.channels import webhook_routers
from adapters.outbound.webchat import reply_webhooks
from router import __version__, api_docs, exception_handlers
from router.admin.endpoints import router as admin_router
from router.attachments.endpoints import UPLOAD_OVERHEAD_BYTES, UPLOAD_PATH, files_router
from router.attachments.endpoints import router as attachments_router
from router.audit.endpoints import router as audit_router
from router.bootstrap import running_router
from router.chat_sites.endpoints import router as chat_sites_router
from router.configuration import load_settings
from router.console.endpoints import router as console_router
from router.console.limits import BodyLimit
from router.console.runtime import ConsoleRuntime, running_console
from router.customers.endpoints import router as customers_router
from router.errors import problem_base
from router.fastpath import WebhookFastPath, fast_routes
from router.feedback.endpoints import router as feedback_router
from router.feedback.page import router as feedback_page_router
from router.feedback.runtime import sending_surveys
from router.health.endpoints import router as health_router
from router.observability.scrape import serving_metrics_port
from router.openapi import build_openapi
from router.presence.endpoints import router as presence_router
from router.problems.endpoints import router as problems_router
from router.reports.endpoints import router as reports_router
from router.service_levels.endpoints import router as sla_router
from router.settings import Settings
from router.state import RouterState


class LifespanState(TypedDict):
    router: RouterState
    console: ConsoleRuntime


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; its lifespan starts the database, the transport and the console."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[LifespanState]:
        from adapters.identity import signing_keys
        from adapters.outbound.directory import ProviderDirectory

        started = False
        try:
            async with (
                running_router(settings) as state,
                running_console(
                    state, ProviderDirectory(settings), signing_keys(settings)
                ) as console,
                serving_metrics_port(settings, state.sessions) as metrics_port,
                sending_surveys(state, console.outbound),
            ):
                app.state.metrics_port = metrics_port
                app.state.router = state
                app.state.console = console
                started = True
                # What start-up made (modules, the app, pools) lives as long as the process:
                # keep it out of the collector's full passes, which otherwise walk all of it
                # while every webhook in flight waits.
                gc.freeze()
                yield {"router": state, "console": console}
        except Exception as error:
            if not started:  # `router serve` names the cause (an unreachable database...)
                app.state.startup_error = error
            raise

    app = FastAPI(
        title="Conversation router",
        version=__version__,
        summary="Omnichannel conversation routing: every conversation has exactly one owner.",
        lifespan=lifespan,
        docs_url=None,  # served from the router's own assets by api_docs, not from a CDN
        redoc_url=None,
    )
    exception_handlers.install(app, settings.public_base_url)
    api_docs.install(app)
    webhooks = webhook_routers()
    app.add_middleware(
        BodyLimit,
        limit=settings.api_max_body_bytes,
        problem_base=problem_base(settings.public_base_url),
        uploads=(UPLOAD_PATH, settings.attachment_max_bytes + UPLOAD_OVERHEAD_BYTES),
    )
    # Added last, so outermost: webhooks skip the layers above, every request gets its id.
    app.add_middleware(WebhookFastPath, routes=fast_routes(webhooks))
    app.include_router(health_router)
    for webhook_router in webhooks:
        app.include_router(webhook_router)  # as is: the fast routes' paths are the routers'
    app.include_router(console_router)
    app.include_router(customers_router)
    app.include_router(attachments_router)
    app.include_router(files_router)
    app.include_router(admin_router)
    app.include_router(audit_router)
    app.include_router(chat_sites_router)
    app.include_router(presence_router)
    app.include_router(feedback_router)
    app.include_router(feedback_page_router)
    app.include_router(sla_router)
    app.include_router(reports_router)
    app.include_router(problems_router)
    # What the router posts to others (web-chat replies), documented as OpenAPI webhooks.
    app.webhooks.include_router(reply_webhooks)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
