"""What webhooks remember between requests, shared by every router process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base


class SignedToken(Base):
    """A provider's one-time token of a signed webhook, remembered within its replay window.

    The digest of the post that first used it tells a redelivery of the same post (taken
    again) from a replay with another body (refused); rows past `expires_at` are pruned by
    the sweep.
    """

    __tablename__ = "signed_tokens"
    __table_args__ = (Index("ix_signed_tokens_expires_at", "expires_at"),)

    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[str] = mapped_column(String(512), primary_key=True)
    body_sha256: Mapped[bytes] = mapped_column(LargeBinary)
    first_seen_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
