"""The feedback API's documents: answers, pages of them, and the survey settings."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from router.feedback.policy import SurveySettings


class FeedbackOut(BaseModel):
    """One answer to a survey, with the resolution, agent, queue and channel it rates."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    resolution: int
    agent_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    channel: str
    kind: str
    score: int
    comment: str | None
    received_at: datetime


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    next_cursor: str | None


class SurveySettingsVersion(BaseModel):
    """The survey settings in force, and which version they are (0: built in, surveys off)."""

    version: int
    created_by: str
    created_at: datetime | None
    settings: SurveySettings
