"""A small HTTP server beside a process's main work: the consumer's probes, a metrics port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


class SideServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that runs it."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def side_server(app: FastAPI, host: str, port: int) -> SideServer:
    """`app` on `host:port` (or on the sockets given to `serve`), without logs or lifespan."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    return SideServer(config)
