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


class Attainment(_Out):
    """SLA clocks of one target settled in the bucket: met by their due time, or not."""

    met: int = Field(description="Clocks met by their due time")
    breached: int = Field(description="Clocks breached, or met after their due time")
    attainment_percent: float | None = Field(
        description="100 * met / (met + breached); null when none settled"
    )


class Satisfaction(_Out):
    """CSAT answers (1-5) received in the bucket."""

    count: int
    mean: float | None
    satisfied_percent: float | None = Field(description="Share of answers 4 or 5, in %")


class Effort(_Out):
    """CES answers (1-7) received in the bucket."""

    count: int
    mean: float | None


class PromoterScore(_Out):
    """NPS answers (0-10) received in the bucket."""

    count: int
    promoters: int = Field(description="Answers 9 or 10")
    detractors: int = Field(description="Answers 0 to 6")
    score: float | None = Field(description="% promoters - % detractors (-100 to 100)")


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
    sla_first_response: Attainment
    sla_next_response: Attainment
    sla_resolution: Attainment
    csat: Satisfaction
    ces: Effort
    nps: PromoterScore


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
