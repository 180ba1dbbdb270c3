"""How the console API shows a conversation's SLA clocks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from router.models import ConversationSla
from router.service_levels.policy import Calendar, Target


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


class SlaClockOut(BaseModel):
    """One target's clock on a conversation."""

    target: Target
    state: ClockState = Field(
        description="`running`, `paused` (waiting on the customer), `met` in time, or"
        " `breached` (its due time passed unmet; `met_at` says if it was met later)"
    )
    policy: str
    policy_version: int
    calendar: Calendar
    target_seconds: int
    started_at: datetime
    due_at: datetime | None = Field(description="null while paused, or when never due")
    met_at: datetime | None
    breached_at: datetime | None
    at_risk_at: datetime | None = Field(description="when `sla.at_risk` was published")
    paused_seconds: int = Field(description="counted time its pauses took out")

    @classmethod
    def of(cls, row: ConversationSla) -> SlaClockOut:
        """The view of a stored clock."""
        if row.breached_at is not None:
            state = ClockState.BREACHED
        elif row.met_at is not None:
            state = ClockState.MET
        elif row.paused_since is not None:
            state = ClockState.PAUSED
        else:
            state = ClockState.RUNNING
        return cls(
            target=Target(row.target),
            state=state,
            policy=row.policy_name,
            policy_version=row.policy_version,
            calendar=Calendar(row.calendar),
            target_seconds=row.target_seconds,
            started_at=row.started_at,
            due_at=row.due_at,
            met_at=row.met_at,
            breached_at=row.breached_at,
            at_risk_at=row.at_risk_at,
            paused_seconds=row.paused_seconds,
        )
