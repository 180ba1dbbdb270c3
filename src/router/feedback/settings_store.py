"""The survey settings document, versioned: every saved version is kept with who saved it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.document_versions import next_version
from router.errors import ProblemError
from router.feedback.policy import SurveySettings
from router.models import FeedbackSettingsVersion, Queue


@dataclass(frozen=True)
class SettingsVersion:
    version: int
    settings: SurveySettings
    created_by: str
    created_at: datetime | None


# Before anyone saves settings: no survey anywhere.
BUILT_IN = SettingsVersion(0, SurveySettings(), "built-in", None)


async def current(session: AsyncSession) -> SettingsVersion:
    """The settings in force: the highest saved version, else the built-in one (surveys off)."""
    row = await session.scalar(
        select(FeedbackSettingsVersion).order_by(FeedbackSettingsVersion.version.desc()).limit(1)
    )
    if row is None:
        return BUILT_IN
    return SettingsVersion(
        row.version, SurveySettings.model_validate(row.document), row.created_by, row.created_at
    )


class InvalidSurveySettings(ProblemError):
    status = 422
    problem = "invalid-survey-settings"
    title = "The survey settings are not valid"


# Serialises saves, so two editors never claim the same version number.
_SETTINGS_LOCK = 7_260_023


async def save(
    session: AsyncSession, settings: SurveySettings, actor: str, now: datetime
) -> SettingsVersion:
    """Save a new version after checking every queue it names exists."""
    named = set(settings.queues)
    if named:
        found = set((await session.scalars(select(Queue.id).where(Queue.id.in_(named)))).all())
        missing = sorted(str(queue) for queue in named - found)
        if missing:
            raise InvalidSurveySettings(f"queues: no queue {', '.join(missing)}", field="queues")
    version = await next_version(session, FeedbackSettingsVersion.version, _SETTINGS_LOCK)
    session.add(
        FeedbackSettingsVersion(
            version=version,
            document=settings.model_dump(mode="json", exclude_none=True),
            created_by=actor[:200],
            created_at=now,
        )
    )
    await session.flush()
    return SettingsVersion(version, settings, actor, now)
