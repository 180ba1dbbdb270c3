"""Who may read `/metrics`, and where: a bearer token, and a port of its own.

The metrics name agents and queues and show their loads; on the public webhook port anyone
could read them. `ROUTER_METRICS_TOKEN` makes a scrape present `Authorization: Bearer ...`;
`ROUTER_METRICS_PORT` moves `router serve`'s `/metrics` off the API's port onto one a
firewall keeps inside.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.errors import Unauthorized
from router.configuration import ConfigurationError
from router.errors import PROBLEM_JSON, problem_base
from router.observability.metrics import exposition
from router.observability.servers import side_server
from router.settings import Settings


async def metrics_response(
    request: Request, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> Response:
    """The Prometheus exposition, or a 401 problem when a token is set and not presented."""
    token = settings.metrics_token
    if token is not None and not _presents(request, token.get_secret_value()):
        problem = Unauthorized(
            "/metrics needs `Authorization: Bearer <ROUTER_METRICS_TOKEN>`",
            presented="authorization" in request.headers,
        )
        body = problem.body(request.url.path, problem_base(settings.public_base_url))
        return Response(
            json.dumps(body),
            status_code=401,
            media_type=PROBLEM_JSON,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body_bytes, content_type = await exposition(sessions)
    return Response(body_bytes, media_type=content_type)


def _presents(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def metrics_app(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> FastAPI:
    """An app with `/metrics` alone, for `ROUTER_METRICS_PORT`."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return await metrics_response(request, sessions, settings)

    return app


@asynccontextmanager
async def serving_metrics_port(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[int | None]:
    """Serve `/metrics` on `ROUTER_METRICS_PORT` while the block runs (yields the port)."""
    if settings.metrics_port is None:
        yield None
        return
    # Bound here, so a port that is taken fails the start with a line naming the setting.
    family = socket.AF_INET6 if ":" in settings.http_host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((settings.http_host, settings.metrics_port))
    except OSError as error:
        listening.close()
        raise ConfigurationError(
            f"cannot serve /metrics on {settings.http_host}:{settings.metrics_port} "
            f"(ROUTER_METRICS_PORT): {error.strerror}"
        ) from None
    server = side_server(metrics_app(sessions, settings), settings.http_host, settings.metrics_port)
    serving = asyncio.create_task(server.serve(sockets=[listening]), name="metrics-port")
    try:
        yield listening.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait({serving}, timeout=5)
        listening.close()
