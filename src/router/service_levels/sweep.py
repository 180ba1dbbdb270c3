"""The SLA sweep: publishes `sla.at_risk` and `sla.breached`, once each per clock.

A clock is at risk from its due time less the lead (the policy's `at_risk_seconds`, else
`ROUTER_SLA_AT_RISK_SECONDS`) and breached at its due time, while unmet. Each is recorded as
a conversation event and, through the outbox, published on `router.events.v1`. A clock the
sweep first sees already past due is published as breached only.

Conversations are locked before their clocks (`FOR UPDATE SKIP LOCKED`, in id order), the
order routing batches and agents' actions take them in, so the sweep never deadlocks with
them and several router processes sweep side by side.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from router.conversations.history import Change, Journal
from router.db import driver_connection
from router.settings import Settings

SWEEP_LIMIT = 500

_DUE = """
WITH candidates AS (
    SELECT conversation_id FROM conversation_slas
    WHERE met_at IS NULL AND breached_at IS NULL AND at_risk_from <= $1
      AND (due_at <= $1 OR at_risk_at IS NULL)
    ORDER BY at_risk_from
    LIMIT $2
), locked AS (
    SELECT c.id FROM conversations AS c
    WHERE c.id IN (SELECT conversation_id FROM candidates)
    ORDER BY c.id
    FOR UPDATE SKIP LOCKED
)
UPDATE conversation_slas AS s
SET breached_at = CASE WHEN s.due_at <= $1 THEN s.due_at END,
    at_risk_at = CASE WHEN s.due_at <= $1 THEN s.at_risk_at ELSE $1 END
FROM conversations AS c
WHERE c.id = s.conversation_id AND s.conversation_id IN (SELECT id FROM locked)
  AND s.met_at IS NULL AND s.breached_at IS NULL AND s.at_risk_from <= $1
  AND (s.due_at <= $1 OR s.at_risk_at IS NULL)
RETURNING s.conversation_id, s.target, s.policy_name, s.policy_version, s.started_at,
          s.due_at, s.breached_at, c.queue_id, c.agent_id
"""


async def publish_due(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Mark the clocks that came at risk or ran out, and record one event for each.

    Returns the events recorded.
    """
    connection = await driver_connection(session)
    rows = await connection.fetch(_DUE, now, SWEEP_LIMIT)
    if not rows:
        return 0
    journal = Journal(now, settings.topic_events if settings.transport_is_kafka() else None)
    for row in sorted(rows, key=lambda row: (row["due_at"], str(row["conversation_id"]))):
        breached = row["breached_at"] is not None
        target = row["target"].replace("_", " ")
        journal.record(
            row["conversation_id"],
            Change.SLA_BREACHED if breached else Change.SLA_AT_RISK,
            f"{target} target missed" if breached else f"{target} target due soon",
            agent_id=row["agent_id"],
            queue_id=row["queue_id"],
            details={
                "target": row["target"],
                "policy": row["policy_name"],
                "policy_version": row["policy_version"],
                "started_at": row["started_at"].isoformat(),
                "due_at": row["due_at"].isoformat(),
            },
        )
    await journal.flush(session)
    return len(rows)
