"""Bodies of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from router.audit.service import Subject


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor: str = Field(description="Who made the change: the caller's label, or `cli:USER`")
    action: str = Field(description="What was done, such as `agent.updated` or `api_key.revoked`")
    subject_kind: Subject
    subject_id: str
    before: dict[str, Any] | None = Field(description="The subject before (null: it was new)")
    after: dict[str, Any] | None = Field(description="The subject after (null: it is gone)")
    at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None
