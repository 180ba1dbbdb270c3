"""API keys: bearer credentials, stored as a lookup prefix and a hash of the secret."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base, Timestamped


class ApiKey(Timestamped, Base):
    """One issued key. The secret itself is never stored, only its SHA-256.

    Keys carry 32 random bytes, so a fast hash is right here: there is nothing to brute-force
    that a slow password hash would protect. An `agent` key always names its agent.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),
        CheckConstraint("role <> 'agent' OR agent_id IS NOT NULL", name="agent_key_has_agent"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
