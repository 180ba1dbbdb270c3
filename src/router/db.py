"""Async engine and sessions; one session per request and per consumed batch."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")


def asyncpg_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` URLs and point them at the asyncpg driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("a database URL looks like postgresql+asyncpg://user:pass@host/db")
    if scheme in {"postgresql", "postgres"}:
        scheme = "postgresql+asyncpg"
    return f"{scheme}://{rest}"


# A pooled connection unused for longer than this is tested before it is handed out again.
PING_AFTER_IDLE_SECONDS = 2.0


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
    show_parameters: bool = False,
) -> AsyncEngine:
    """An engine on `url`; its errors leave the statement's parameters out.

    The parameters are customers' addresses, subjects and replies: an error's text (logged
    with its traceback) carries them only with `show_parameters` (`ROUTER_LOG_BODIES`).
    """
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=not show_parameters,
        # The driver's ping is three round trips (BEGIN, an empty query, ROLLBACK): see below.
        pool_pre_ping=False,
        # The default JIT makes PostgreSQL compile short OLTP queries at a loss.
        connect_args={"server_settings": {"jit": "off", "application_name": "router"}},
    )
    ping_idle_connections(engine, ping_after_idle)
    return engine


def ping_idle_connections(engine: AsyncEngine, after: float) -> None:
    """Test a pooled connection before it is handed out, if it sat unused for `after` seconds.

    A connection that rested in the pool may have been closed meanwhile (a database restart
    or failover, a proxy's idle timeout): tested, a dead one is replaced before any work
    starts on it. SQLAlchemy's `pool_pre_ping` tests every checkout, which on asyncpg costs
    three round trips per transaction; a busy process reuses its connections within
    milliseconds, when testing them would find them alive all but always. Should a database
    go away while its connections are busy, the transactions on them fail as they would
    mid-work anyway, the pool is invalidated at the first failure, and the next checkouts
    get new connections.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.pop("returned_at", None)
        if returned is None or time.monotonic() - returned < after:
            return  # new, or in use moments ago
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool drops this connection and checks out another (a few times at most).
            raise DisconnectionError("a pooled connection was found closed") from error


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work commits when the block succeeds and rolls back when it raises."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction.

    For set-based writes of whole batches: one prepared statement fed with arrays
    (`INSERT ... SELECT FROM unnest(...)`) costs a fraction of rendering rows through the ORM.
    Pending ORM changes are flushed first, so raw writes never overtake them.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs itself:
    a statement sent straight to the driver before that would commit on its own (and any
    lock it took would be gone at once). The transaction is begun here when it has not been.
    """
    await session.flush()
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        begin = getattr(raw.dbapi_connection, "_start_transaction", None)
        if begin is not None:
            await begin()  # the adapter's own BEGIN, so its commit and rollback end it
        else:
            await connection.exec_driver_sql("SELECT 1")
        if not driver.is_in_transaction():
            raise RuntimeError("the session's transaction did not begin on its connection")
    return driver


# The server is starting, stopping or out of connections or resources: try again later.
_UNAVAILABLE_SERVER = (
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InsufficientResourcesError,
    asyncpg.PostgresConnectionError,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and those under it: the cause, or the driver's error SQLAlchemy wraps."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or getattr(current, "orig", None)


def is_unreachable(error: BaseException) -> bool:
    """True when `error` says the database could not be reached or is not serving right now.

    A refused or broken connection, a server starting or shutting down or out of
    connections, a connection the pool found closed, or no pooled connection free in time:
    what a caller should meet with "try again shortly", not with an internal error.
    """
    for found in _chain(error):
        # A timeout on its own may be anyone's; one under a database error is the server's.
        if isinstance(found, OSError) and (
            found is not error or not isinstance(found, TimeoutError)
        ):
            return True
        if isinstance(found, (PoolTimeout, *_UNAVAILABLE_SERVER)):
            return True
        if isinstance(found, DBAPIError) and found.connection_invalidated:
            return True
        if isinstance(found, asyncpg.InterfaceError) and "connection is closed" in str(found):
            return True
        # A connection whose server went away in the middle of an operation is left in a
        # state no further operation can use ("cannot switch to state …").
        if isinstance(found, asyncpg.InternalClientError) and "cannot switch to state" in str(
            found
        ):
            return True
    return False


def refuses_login(error: BaseException) -> bool:
    """True when the server answered but refused the URL's user, password or database."""
    return any(isinstance(found, _REFUSED_LOGIN) for found in _chain(error))


# A wrong user or password (class 28), or a database that does not exist (3D000).
_REFUSED_LOGIN = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)


def is_refused_data(error: BaseException) -> bool:
    """True when PostgreSQL refused the data itself: a data exception or a broken constraint.

    SQLSTATE classes 22 (a value out of range, too long, not valid text) and 23 (unique,
    check, foreign-key, not-null violations): the same statement with the same values fails
    again, whoever sends it and however often.
    """
    for found in _chain(error):
        code = getattr(found, "sqlstate", None) or getattr(found, "pgcode", None)
        if isinstance(code, str) and code[:2] in _REFUSED_DATA_CLASSES:
            return True
    return False


_REFUSED_DATA_CLASSES = {"22", "23"}  # data exception, integrity constraint violation


def is_retryable(error: BaseException) -> bool:
    """True for the errors PostgreSQL asks the client to retry (deadlock, serialization)."""
    return any(
        (getattr(found, "sqlstate", None) or getattr(found, "pgcode", None)) in _RETRYABLE
        for found in _chain(error)
    )


async def in_transaction(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 8,
) -> T:
    """Run `work` in a transaction, again from the start when PostgreSQL reports a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            async with transaction(sessions) as session:
                return await work(session)
        except (DBAPIError, asyncpg.PostgresError) as error:
            if attempt == attempts or not is_retryable(error):
                raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")
