"""What a running router process holds: settings, database, transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from router.attachments.ports import BlobStore
from router.inbound.ports import InboundPublisher
from router.settings import Settings


@dataclass
class RouterState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    publisher: InboundPublisher
    database_label: str
    blobs: BlobStore
    # Components that report readiness of their own (e.g. an embedded consumer).
    readiness_checks: dict[str, Any] = field(default_factory=dict)
