"""Web-chat sites: where each site's widget backend takes the agents' replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from router.models.base import Base


class ChatSite(Base):
    """A site of the web-chat widget (the `site` of its webhook) and its reply URL."""

    __tablename__ = "chat_sites"

    site: Mapped[str] = mapped_column(String(100), primary_key=True)
    reply_url: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
