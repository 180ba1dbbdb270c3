"""Declarative base with a constraint naming convention, so migrations are predictable."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, MetaData, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DocumentVersion(Timestamped):
    """One version of a versioned document: who made it and why; at most one is active.

    Each document keeps its own table (with a unique version and a partial unique index on
    `active`); the columns are the same for all of them.
    """

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column()
    active: Mapped[bool] = mapped_column(server_default="false")
    created_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
