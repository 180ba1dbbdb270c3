"""What the reports API answers (the CSV form has one column per leaf of these)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from router.reports.window import Bucket, Grouping


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Spread(_Out):
    """How many times a duration was measured, and its median and 90th percentile."""

    count: int
    p50_seconds: float | None
    p90_seconds: float | None


class ConversationReportRow(_Out):
    bucket_start: datetime = Field(description="The bucket's local start, with its offset")
    group: str | None = Field(description="The queue or agent id, or the channel; null: none")
    name: str | None = Field(description="The queue's name, the agent's handle, the channel")
    created: int = Field(description="Conversations created in the bucket")
    resolved: int = Field(description="Resolutions in the bucket (a reopened one counts again)")
    abandoned: int = Field(description="Conversations abandoned in the bucket")
    abandonment_rate: float | None = Field(
        description="Of the conversations created in the bucket, the share abandoned so far"
    )
    transfers: int = Field(description="Transfers of the conversations created in the bucket")
    reopens: int = Field(description="Reopenings of the conversations created in the bucket")
    wait_until_offer: Spread
    wait_until_accept: Spread
    first_response: Spread
    next_response: Spread
    handle: Spread
    resolution: Spread


class ConversationReport(_Out):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    tz: str
    bucket: Bucket
    by: Grouping
    rows: list[ConversationReportRow]

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class OccupancyRow(_Out):
    bucket_start: datetime
    agent_id: uuid.UUID
    handle: str
    online_seconds: float = Field(description="Time online in the bucket")
    busy_seconds: float = Field(description="Time online holding at least one conversation")
    occupancy: float | None = Field(description="busy_seconds / online_seconds")


class OccupancyReport(_Out):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    tz: str
    bucket: Bucket
    rows: list[OccupancyRow]

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)
