"""What routing reads of the SLA clocks: a waiting conversation's nearest due time."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Label, func, select
from sqlalchemy.orm import InstrumentedAttribute

from router.models import ConversationSla


def nearest_due(
    conversation_id: InstrumentedAttribute[uuid.UUID],
) -> Label[datetime | None]:
    """The earliest due time of the conversation's unmet clocks (breached ones included: they
    are the most urgent), labelled `sla_due_at`; NULL when it has none."""
    return (
        select(func.min(ConversationSla.due_at))
        .where(
            ConversationSla.conversation_id == conversation_id,
            ConversationSla.met_at.is_(None),
        )
        .scalar_subquery()
        .label("sla_due_at")
    )
