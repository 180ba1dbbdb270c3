"""Which database errors mean "out of reach, try again" and which mean "retry the work"."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from router.db import is_retryable, is_unreachable


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    """As SQLAlchemy raises a driver error: wrapped, with the driver's error as its cause."""
    try:
        raise DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated) from orig
    except DBAPIError as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        # Seen on the driver's own connection when PostgreSQL restarts mid-statement.
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        PoolTimeout("QueuePool limit of size 10 overflow 10 reached"),
        _wrapped(RuntimeError("the driver's message"), invalidated=True),
        _wrapped(asyncpg.ConnectionDoesNotExistError("connection was closed")),
        _wrapped(TimeoutError()),
    ],
)
def test_out_of_reach(error: BaseException) -> None:
    assert is_unreachable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug of ours"),
        TimeoutError(),  # alone it may be anyone's timeout, not the database's
        asyncpg.UniqueViolationError("duplicate key value"),
        asyncpg.InterfaceError("the server expects 2 arguments, 1 was passed"),
        asyncpg.InternalClientError("unexpected codec"),
        _wrapped(asyncpg.UndefinedTableError('relation "x" does not exist')),
        _wrapped(asyncpg.DeadlockDetectedError("deadlock detected")),
    ],
)
def test_not_out_of_reach(error: BaseException) -> None:
    assert not is_unreachable(error)


def test_deadlocks_and_serialization_failures_are_retried_wrapped_or_not() -> None:
    assert is_retryable(_wrapped(asyncpg.DeadlockDetectedError("deadlock detected")))
    assert is_retryable(asyncpg.SerializationError("could not serialize access"))
    assert not is_retryable(_wrapped(asyncpg.UniqueViolationError("duplicate key value")))
    assert not is_retryable(ConnectionRefusedError(111, "Connection refused"))


def test_a_cycle_of_causes_ends() -> None:
    first, second = ValueError("first"), ValueError("second")
    first.__cause__, second.__cause__ = second, first
    assert not is_unreachable(first)
    assert not is_retryable(first)
