"""Conversation measures: a customer's further unanswered message leaves the
conversation's metrics row as it was.

The messages trigger (`conversation_measures_from_messages`) updated the metrics row of
every conversation its statement touched, even when nothing in it changed: a customer
writing again while the conversation already awaits a reply keeps its first message, its
first response, the time it awaits a reply since and whether it was replied to in this
cycle. Such rows are no longer rewritten (nor handed to the report-change trigger as
updated). What the trigger computes is unchanged.

Revision ID: 20261202_measures_unchanged
Revises: 20261202_report_days
Create Date: 2026-12-02 15:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "20261202_measures_unchanged"
down_revision: str | None = "20261202_report_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(_FROM_MESSAGES)


def downgrade() -> None:
    op.execute(_previous_from_messages())


def _previous_from_messages() -> str:
    """The definition the migration that made the function gave it."""
    path = Path(__file__).with_name("2026_12_02_1430-conversation_measures.py")
    spec = importlib.util.spec_from_file_location("conversation_measures_1430", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    definition: str = module._FROM_MESSAGES
    return definition.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


# As in 2026_12_02_1430-conversation_measures.py, but for the last statement's condition.
_FROM_MESSAGES = """
CREATE OR REPLACE FUNCTION conversation_measures_from_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM arrived
        WHERE direction = 'inbound' OR (direction = 'outbound' AND author_agent_id IS NOT NULL)
    ) THEN
        RETURN NULL;
    END IF;
    INSERT INTO conversation_metrics (conversation_id, channel, queue_id, created_at)
    SELECT c.id, c.channel, c.queue_id, c.created_at
    FROM conversations c
    WHERE c.id IN (SELECT conversation_id FROM arrived)
    ORDER BY c.id
    ON CONFLICT (conversation_id) DO NOTHING;
    PERFORM 1 FROM conversation_metrics
    WHERE conversation_id IN (SELECT conversation_id FROM arrived)
    ORDER BY conversation_id FOR UPDATE;

    WITH msg AS (
        SELECT a.id, a.conversation_id, a.received_at AS at, a.direction = 'outbound' AS reply,
               a.author_agent_id AS agent_id
        FROM arrived a
        WHERE a.direction = 'inbound'
           OR (a.direction = 'outbound' AND a.author_agent_id IS NOT NULL)
    ), s AS (
        -- A customer's message and a reply at the same instant: the reply answers it.
        SELECT msg.*,
               coalesce(count(*) FILTER (WHERE reply) OVER (
                   PARTITION BY conversation_id ORDER BY at, reply, id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seg
        FROM msg
    ), measured_messages AS (
        SELECT conversation_id, at, reply, agent_id, seg,
               min(at) FILTER (WHERE NOT reply) OVER (PARTITION BY conversation_id, seg)
                   AS seg_first_customer
        FROM s
    ), answered AS (
        SELECT r.conversation_id, r.agent_id, r.at,
               CASE WHEN r.seg = 0 THEN coalesce(m.awaiting_since, r.seg_first_customer)
                    ELSE r.seg_first_customer END AS waited_from,
               m.first_response_at IS NULL AS none_before
        FROM measured_messages r
        JOIN conversation_metrics m USING (conversation_id)
        WHERE r.reply
    ), ranked AS (
        SELECT a.*, row_number() OVER (PARTITION BY conversation_id ORDER BY at) AS n
        FROM answered a WHERE a.waited_from IS NOT NULL
    ), stored AS (
        INSERT INTO conversation_responses
            (conversation_id, channel, queue_id, agent_id, waited_from, responded_at, seconds,
             first)
        SELECT r.conversation_id, c.channel, c.queue_id, r.agent_id, r.waited_from, r.at,
               extract(epoch FROM r.at - r.waited_from), r.none_before AND r.n = 1
        FROM ranked r JOIN conversations c ON c.id = r.conversation_id
        ORDER BY r.conversation_id, r.at
        RETURNING conversation_id, channel, queue_id, seconds, first, responded_at
    ), observed AS (
        INSERT INTO measure_observations (measure, queue_id, channel, seconds)
        SELECT 'first_response', queue_id, channel, seconds FROM stored WHERE first
    ), per AS (
        SELECT x.conversation_id,
               min(x.at) FILTER (WHERE NOT x.reply) AS customer_at,
               bool_or(x.reply) AS replied,
               max(x.seg) AS last_seg
        FROM measured_messages x GROUP BY x.conversation_id
    )
    UPDATE conversation_metrics m SET
        first_message_at = coalesce(m.first_message_at, p.customer_at),
        first_response_at = coalesce(
            m.first_response_at,
            (SELECT s.responded_at FROM stored s
             WHERE s.conversation_id = p.conversation_id AND s.first)),
        awaiting_since = CASE
            WHEN p.replied THEN (SELECT min(x.at) FROM measured_messages x
                                 WHERE x.conversation_id = p.conversation_id
                                   AND x.seg = p.last_seg AND NOT x.reply)
            ELSE coalesce(m.awaiting_since, p.customer_at) END,
        replied_in_cycle = m.replied_in_cycle OR p.replied
    FROM per p
    WHERE m.conversation_id = p.conversation_id
      -- A customer writing again, unanswered, changes nothing: the row is left as it is.
      AND (p.replied OR m.first_message_at IS NULL OR m.awaiting_since IS NULL);
    RETURN NULL;
END
$$;
"""
