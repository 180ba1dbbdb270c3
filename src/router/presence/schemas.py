"""Bodies of the presence history API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from router.channels import Presence
from router.console.schemas import Reason


class AgentPresenceRequest(BaseModel):
    """An administrator sets an agent's presence (an agent who left without signing off)."""

    model_config = ConfigDict(extra="forbid")

    presence: Presence
    reason: Reason | None = None


class PresenceChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agent_id: uuid.UUID
    from_presence: Presence
    to_presence: Presence
    actor: str = Field(description="Who made the change: the caller's label, or `system`")
    reason: str | None
    changed_at: datetime = Field(
        description="The clock of the change's transaction, the one its offers' events use"
    )


class PresenceChangePage(BaseModel):
    items: list[PresenceChangeOut]
    next_cursor: str | None
