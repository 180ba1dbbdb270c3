"""Helpers for tests that drive the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from router.app import create_app
from router.settings import Settings


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan running, and an HTTP client speaking to it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://router.test") as client:
            yield app, client


@asynccontextmanager
async def served_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, int]]:
    """The real app served by uvicorn on a free loopback port, in this event loop.

    For tests that need a real socket between client and app (a client that goes away
    mid-request), which the in-process transport cannot show.
    """
    import asyncio
    import socket

    import uvicorn

    app = create_app(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if serving.done():
                serving.result()  # start-up failed: raise its error
            await asyncio.sleep(0.02)
        yield app, port
    finally:
        server.should_exit = True
        await serving
        listener.close()
