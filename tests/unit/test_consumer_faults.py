"""Whose fault a failure is, and the consumer's back-off."""

from __future__ import annotations

import random

import asyncpg
import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from router.faults import Backoff, Fault, judge

UNREACHABLE = "database-unreachable"
REFUSED = "refused-by-database"


def _wrapped(orig: BaseException, kind: type[DBAPIError] = DBAPIError) -> DBAPIError:
    """As SQLAlchemy raises a driver error: wrapped, with the driver's error as its cause."""
    try:
        raise kind("INSERT ...", {}, orig) from orig
    except DBAPIError as error:
        return error


def _validation_error() -> ValidationError:
    class Thing(BaseModel):
        size: int

    try:
        Thing.model_validate({"size": "large"})
    except ValidationError as error:
        return error
    raise AssertionError("validated")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(111, "Connection refused"), UNREACHABLE),
        (_wrapped(ConnectionResetError(104, "reset by peer")), UNREACHABLE),
        (asyncpg.AdminShutdownError("terminating connection"), UNREACHABLE),
        (
            asyncpg.CannotConnectNowError("the database system is starting up"),
            "database-unreachable",
        ),
        (asyncpg.TooManyConnectionsError("too many clients"), UNREACHABLE),
        (PoolTimeout("QueuePool limit reached"), UNREACHABLE),
        (asyncpg.DeadlockDetectedError("deadlock detected"), "database-conflict"),
        (_wrapped(asyncpg.SerializationError("could not serialize")), "database-conflict"),
    ],
)
def test_the_worlds_errors_are_waited_out(error: BaseException, kind: str) -> None:
    verdict = judge(error)
    assert (verdict.fault, verdict.kind) == (Fault.WORLD, kind)
    assert verdict.waits


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (asyncpg.CheckViolationError("violates check constraint"), REFUSED),
        (
            _wrapped(asyncpg.UniqueViolationError("duplicate key"), IntegrityError),
            "refused-by-database",
        ),
        (asyncpg.NotNullViolationError("null value in column"), REFUSED),
        (asyncpg.StringDataRightTruncationError("value too long"), REFUSED),
        (
            asyncpg.CharacterNotInRepertoireError("invalid byte sequence 0x00"),
            "refused-by-database",
        ),
        (
            _wrapped(asyncpg.InvalidTextRepresentationError("invalid input syntax")),
            "refused-by-database",
        ),
        (_validation_error(), "invalid"),
    ],
)
def test_a_records_own_errors_are_dead_lettered(error: BaseException, kind: str) -> None:
    verdict = judge(error)
    assert (verdict.fault, verdict.kind) == (Fault.RECORD, kind)
    assert not verdict.waits


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug of ours"),
        KeyError("missing"),
        TimeoutError(),  # alone it may be anyone's
        _wrapped(asyncpg.UndefinedTableError('relation "x" does not exist')),  # a schema behind
    ],
)
def test_unexpected_errors_are_waited_out_not_dead_lettered(error: BaseException) -> None:
    verdict = judge(error)
    assert verdict.fault is Fault.UNEXPECTED
    assert verdict.waits


def test_a_refusal_under_a_lost_connection_is_the_lost_connections() -> None:
    refusal = asyncpg.CheckViolationError("violates check constraint")
    refusal.__cause__ = ConnectionResetError(104, "reset by peer")
    assert judge(refusal).fault is Fault.WORLD


def test_back_off_ceilings_double_up_to_the_cap_and_delays_stay_under_them() -> None:
    backoff = Backoff(0.1, 2.0, random.Random(5))
    ceilings = []
    for _ in range(8):
        ceilings.append(backoff.ceiling())
        assert 0.0 <= backoff.next_delay() <= ceilings[-1]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0])
    backoff.reset()
    assert backoff.ceiling() == pytest.approx(0.1)


def test_back_off_has_full_jitter_and_never_overflows() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(11))
    backoff.failures = 10_000
    delays = [backoff.next_delay() for _ in range(400)]
    assert max(delays) <= 8.0
    assert min(delays) < 1.0  # anywhere from zero: consumers of a group spread out
    assert max(delays) > 7.0
