"""The history of customers: one appended row per change, with who made it and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from router.auth.service import Principal
from router.models import CustomerEvent


def record(
    session: AsyncSession,
    customer_id: uuid.UUID,
    kind: str,
    principal: Principal,
    reason: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    """Append one change of a customer to its history."""
    session.add(
        CustomerEvent(
            customer_id=customer_id,
            kind=kind,
            actor=principal.label,
            reason=reason,
            details=details,
            occurred_at=now,
        )
    )
