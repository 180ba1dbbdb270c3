"""Agents left out of a conversation's offers for a while: who, why, and until when.

An agent who declines an offer, lets it lapse or transfers the conversation away is not
offered it again until their exclusion ends (`ROUTER_OFFER_EXCLUSION_SECONDS` after it
began); then they are eligible like anyone else. Without the end a conversation both of its
agents had let lapse waited for ever beside them.

Stored on the conversation (`excluded_agents`, JSONB) as `{agent id: {"reason": ...,
"until": ISO 8601}}`. Rows written before exclusions ended hold a bare reason string; such
an exclusion has no known end and counts as ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple


class Exclusion(NamedTuple):
    """Why an agent is left out, and when that ends (None: unknown, counts as ended)."""

    reason: str
    until: datetime | None

    def in_force(self, now: datetime) -> bool:
        """True while the agent is still left out at `now`."""
        return self.until is not None and now < self.until

    def stored(self) -> dict[str, str | None]:
        """The JSON form kept on the conversation."""
        return {
            "reason": self.reason,
            "until": self.until.isoformat() if self.until is not None else None,
        }


def read_exclusions(stored: Mapping[str, Any] | None) -> dict[str, Exclusion]:
    """The exclusions as stored on a conversation, old bare-reason entries included."""
    found: dict[str, Exclusion] = {}
    for agent_id, entry in (stored or {}).items():
        if isinstance(entry, Mapping):
            until = entry.get("until")
            found[agent_id] = Exclusion(
                str(entry.get("reason") or "excluded"),
                _moment(until) if isinstance(until, str) else None,
            )
        else:
            found[agent_id] = Exclusion(str(entry), None)
    return found


def in_force(stored: Mapping[str, Any] | None, now: datetime) -> dict[str, Exclusion]:
    """Only the exclusions that have not ended at `now`."""
    return {
        agent_id: exclusion
        for agent_id, exclusion in read_exclusions(stored).items()
        if exclusion.in_force(now)
    }


def with_exclusion(
    stored: Mapping[str, Any] | None, agent_id: str, exclusion: Exclusion, now: datetime
) -> dict[str, Any]:
    """The stored exclusions with this agent's (re)placed; ended ones are dropped."""
    kept = {agent: entry.stored() for agent, entry in in_force(stored, now).items()}
    kept[agent_id] = exclusion.stored()
    return kept


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
