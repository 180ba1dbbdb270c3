"""`/healthz`: the process is alive. `/readyz`: the parts it needs answer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from router.db import ping
from router.observability.scrape import metrics_response
from router.state import RouterState

router = APIRouter(tags=["health"])

_CHECK_SECONDS = 2.0


@router.get("/healthz", operation_id="health_live", summary="The process is alive")
async def healthz() -> Response:
    return Response(content=b'{"status":"ok"}', media_type="application/json")


@router.get(
    "/readyz",
    operation_id="health_ready",
    summary="The database and the transport answer",
    responses={503: {"description": "A part the router needs is down"}},
)
async def readyz(request: Request) -> JSONResponse:
    state: RouterState = request.app.state.router
    checks = {"database": _database(state), "transport": state.publisher.check()}
    checks.update({name: check() for name, check in state.readiness_checks.items()})
    results = await asyncio.gather(
        *(_timed(name, check) for name, check in checks.items()), return_exceptions=False
    )
    down = {name: problem for name, problem in results if problem is not None}
    body = {
        "status": "ready" if not down else "unavailable",
        "checks": {name: ("down: " + down[name]) if name in down else "up" for name in checks},
    }
    return JSONResponse(body, status_code=503 if down else 200)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state: RouterState = request.app.state.router
    if state.settings.metrics_port is not None:  # served on that port only
        raise HTTPException(404, "Not Found")
    return await metrics_response(request, state.sessions, state.settings)


async def _database(state: RouterState) -> None:
    await ping(state.engine)


async def _timed(name: str, check: object) -> tuple[str, str | None]:
    try:
        async with asyncio.timeout(_CHECK_SECONDS):
            await check  # type: ignore[misc]
    except TimeoutError:
        return name, f"no answer within {_CHECK_SECONDS:g} s"
    except Exception as error:
        return name, f"{type(error).__name__}: {error}"[:300]
    return name, None
