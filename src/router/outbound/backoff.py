"""How long to wait before trying a provider again: its own word, else full jitter.

A provider that answers 429 or 503 with `Retry-After` has said when to come back; coming back
sooner only spends its rate limit. Otherwise the wait is drawn at random between zero and an
exponentially growing ceiling ("full jitter"), so replies that failed together (a provider's
outage) do not all come back at the same instant and fail together again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """The wait before attempt `attempt + 1`, never longer than `max_seconds`."""

    base_seconds: float
    max_seconds: float
    # Draws uniformly from [0, 1); a seeded `random.Random().random` makes it repeatable.
    uniform: Callable[[], float] = field(default=random.random, repr=False)

    def wait_seconds(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt` (1 for the first).

        `retry_after` is what the provider asked for (429/503 `Retry-After`), honoured up to
        `max_seconds`; without it, full jitter under `base_seconds * 2 ** (attempt - 1)`.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_seconds)
        ceiling = min(self.base_seconds * 2.0 ** (attempt - 1), self.max_seconds)
        return self.uniform() * ceiling
