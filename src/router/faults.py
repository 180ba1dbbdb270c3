"""Whose fault a failure is: the record's own, or the world's (DESIGN, "Errors").

The routing engine's consumer asks this of every error that applying a batch raises:

* **the world's** (the database out of reach, a lost or refused connection, no pooled
  connection in time, a deadlock or serialization failure): nothing is wrong with the
  records, so the consumer waits it out and carries on where it stopped;
* **the record's** (a value PostgreSQL refuses, a broken constraint, content that fails
  validation): no retry changes it, so the record is isolated from its batch and
  dead-lettered;
* **unexpected** (anything else, such as a bug of ours): not the record's fault in the sense
  that matters here, since a fixed release applies the same record fine. It is waited out
  like the world's, loudly (logged with its traceback, not ready on `/readyz`), so that
  nothing acknowledged is ever set aside by a bug; the deploy that fixes it resumes where
  the consumer stopped.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from router.db import is_refused_data, is_retryable, is_unreachable


class Fault(StrEnum):
    RECORD = "record"
    WORLD = "world"
    UNEXPECTED = "unexpected"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whose fault, and what kind of failure (a bounded label for metrics and logs)."""

    fault: Fault
    kind: str

    @property
    def waits(self) -> bool:
        """Whether the consumer waits this out rather than dead-lettering."""
        return self.fault is not Fault.RECORD


DATABASE_UNREACHABLE = Verdict(Fault.WORLD, "database-unreachable")
DATABASE_CONFLICT = Verdict(Fault.WORLD, "database-conflict")
BROKER = Verdict(Fault.WORLD, "broker")
REFUSED_BY_DATABASE = Verdict(Fault.RECORD, "refused-by-database")
INVALID = Verdict(Fault.RECORD, "invalid")
UNEXPECTED = Verdict(Fault.UNEXPECTED, "unexpected")


def judge(error: BaseException) -> Verdict:
    """Whose fault `error` is, by its kind alone (never by how often it happened).

    Reachability comes first: a constraint error under a lost connection is still the lost
    connection's.
    """
    if is_unreachable(error):
        return DATABASE_UNREACHABLE
    if is_retryable(error):
        return DATABASE_CONFLICT
    if is_refused_data(error):
        return REFUSED_BY_DATABASE
    if isinstance(error, ValidationError):
        return INVALID
    return UNEXPECTED


@dataclass(slots=True)
class Backoff:
    """Capped exponential back-off with full jitter: each delay uniform in [0, ceiling].

    The ceiling doubles from `initial` with every consecutive failure up to `cap`; the jitter
    keeps the consumers of a group from retrying in step against a database coming back.
    """

    initial: float
    cap: float
    rng: random.Random
    failures: int = 0

    def ceiling(self) -> float:
        """The longest the next delay may be."""
        return min(self.cap, math.ldexp(self.initial, min(self.failures, 62)))

    def next_delay(self) -> float:
        """The delay before the next try; counts one more failure."""
        delay = self.rng.uniform(0.0, self.ceiling())
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A success: the next failure starts from `initial` again."""
        self.failures = 0
