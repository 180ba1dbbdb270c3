"""The administrators' audit trail: one row per change of agents, queues, keys or the policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base


class AdminAudit(Base):
    """Who did what to which subject, and when; `before`/`after` summarise the subject.

    Never updated: a change that is undone is a second row.
    """

    __tablename__ = "admin_audit"
    __table_args__ = (
        Index("ix_admin_audit_subject", "subject_kind", "subject_id", "id"),
        Index("ix_admin_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
