"""`router consume`'s own small HTTP server: /healthz, /readyz and /metrics.

The routing engine has no API, but an orchestrator still needs to know it is alive, whether
it holds partitions, and what it is doing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from router.db import ping
from router.observability.scrape import metrics_response
from router.settings import Settings


def probe_app(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    partitions: Callable[[], Awaitable[None]],
    settings: Settings,
) -> FastAPI:
    """Liveness, readiness (database reachable, partitions held) and metrics."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        for name, check in (("database", lambda: ping(engine)), ("consumer", partitions)):
            try:
                async with asyncio.timeout(2):
                    await check()
                checks[name] = "up"
            except Exception as error:
                checks[name] = f"down: {type(error).__name__}: {error}"[:300]
        ready = all(value == "up" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return await metrics_response(request, sessions, settings)

    return app
