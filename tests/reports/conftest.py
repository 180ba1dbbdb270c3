"""Fixtures for the reports: a desk on a movable clock, the real app, a supervisor's key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.auth.roles import Role
from router.auth.service import issue_key
from router.db import transaction
from router.settings import Settings
from tests.reports.desk import Clock, Desk, desk_settings
from tests.support import app_client

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def desk(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Desk]:
    opened = Desk(sessions, desk_settings(database_url), Clock(START))
    yield opened
    await opened.close()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as (_, running):
        yield running


async def bearer(
    sessions: async_sessionmaker[AsyncSession], role: Role, agent: str | None = None
) -> dict[str, str]:
    """Headers carrying a fresh API key of `role` (bound to `agent` for agents)."""
    async with transaction(sessions) as session:
        issued = await issue_key(
            session, role=role, name="reports", actor="test", agent_handle=agent
        )
    return {"Authorization": f"Bearer {issued.token}"}
