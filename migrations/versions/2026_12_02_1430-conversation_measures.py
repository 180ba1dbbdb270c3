"""Measures per conversation, kept as they happen: waits, responses, handle and resolution
times, transfers, reopens, abandonment; and the observations the histograms are fed from.

Two statement-level triggers (with transition tables) on `conversation_events` and
`messages` keep them: one set-based statement per insert statement, whoever the writer.
The definitions are in docs/reports.md.

Revision ID: 20261202_conversation_measures
Revises: 20261202_live_calls
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_conversation_measures"
down_revision: str | None = "20261202_service_levels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversation_metrics",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("first_offered_at", _TIME, nullable=True),
        sa.Column("first_accepted_at", _TIME, nullable=True),
        sa.Column("first_message_at", _TIME, nullable=True),
        sa.Column("first_response_at", _TIME, nullable=True),
        sa.Column("awaiting_since", _TIME, nullable=True),
        sa.Column("holding_since", _TIME, nullable=True),
        sa.Column("replied_in_cycle", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("handle_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("resolutions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_resolved_at", _TIME, nullable=True),
        sa.Column("transfers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reopens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_metrics_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_metrics")),
    )
    op.create_index("ix_conversation_metrics_created_at", "conversation_metrics", ["created_at"])
    op.create_index(
        "ix_conversation_metrics_abandoned_at",
        "conversation_metrics",
        ["abandoned_at"],
        postgresql_where=sa.text("abandoned_at IS NOT NULL"),
    )
    op.create_table(
        "conversation_responses",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("waited_from", _TIME, nullable=False),
        sa.Column("responded_at", _TIME, nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_responses_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_responses")),
    )
    # Covering: a report reads responses and resolutions from the index alone.
    op.create_index(
        "ix_conversation_responses_responded_at",
        "conversation_responses",
        ["responded_at"],
        postgresql_include=["queue_id", "agent_id", "channel", "first", "seconds"],
    )
    op.create_index(
        "ix_conversation_responses_conversation_id", "conversation_responses", ["conversation_id"]
    )
    op.create_table(
        "conversation_resolutions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("handled_from", _TIME, nullable=True),
        sa.Column("resolved_at", _TIME, nullable=False),
        sa.Column("resolution_seconds", sa.Float(), nullable=False),
        sa.Column("handle_seconds", sa.Float(), nullable=True),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_resolutions_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_resolutions")),
    )
    op.create_index(
        "ix_conversation_resolutions_resolved_at",
        "conversation_resolutions",
        ["resolved_at"],
        postgresql_include=[
            "queue_id",
            "agent_id",
            "channel",
            "resolution_seconds",
            "handle_seconds",
        ],
    )
    op.create_index(
        "ix_conversation_resolutions_conversation_id",
        "conversation_resolutions",
        ["conversation_id"],
    )
    op.create_table(
        "measure_observations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("queue_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_observations")),
    )
    op.execute(_FROM_EVENTS)
    op.execute(_FROM_MESSAGES)
    op.execute(
        "CREATE TRIGGER conversation_measures_from_events AFTER INSERT ON conversation_events"
        " REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT"
        " EXECUTE FUNCTION conversation_measures_from_events()"
    )
    op.execute(
        "CREATE TRIGGER conversation_measures_from_messages AFTER INSERT ON messages"
        " REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT"
        " EXECUTE FUNCTION conversation_measures_from_messages()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER conversation_measures_from_messages ON messages")
    op.execute("DROP TRIGGER conversation_measures_from_events ON conversation_events")
    op.execute("DROP FUNCTION conversation_measures_from_messages()")
    op.execute("DROP FUNCTION conversation_measures_from_events()")
    op.drop_table("measure_observations")
    op.drop_index(
        "ix_conversation_resolutions_conversation_id", table_name="conversation_resolutions"
    )
    op.drop_index("ix_conversation_resolutions_resolved_at", table_name="conversation_resolutions")
    op.drop_table("conversation_resolutions")
    op.drop_index("ix_conversation_responses_conversation_id", table_name="conversation_responses")
    op.drop_index("ix_conversation_responses_responded_at", table_name="conversation_responses")
    op.drop_table("conversation_responses")
    op.drop_index("ix_conversation_metrics_abandoned_at", table_name="conversation_metrics")
    op.drop_index("ix_conversation_metrics_created_at", table_name="conversation_metrics")
    op.drop_table("conversation_metrics")


# Channels on which a customer waits live in writing: a conversation resolved with no agent
# having taken it or replied in its cycle was left by its customer (email is not live; a call
# is abandoned when it ends before an agent took it).
_LIVE_WRITING = "('chat', 'whatsapp', 'messenger', 'instagram', 'sms')"

# Rows of one statement are cut into segments by the resolutions among them: segment 0
# continues the cycle the metrics row holds, segment k starts after the k-th resolution.
_FROM_EVENTS = f"""
CREATE FUNCTION conversation_measures_from_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM arrived
        WHERE kind IN ('created', 'offered', 'accepted', 'reassigned', 'transferred',
                       'reopened', 'resolved', 'call_ended')
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

    WITH e AS (
        SELECT a.id, a.conversation_id, a.kind, a.agent_id, a.queue_id, a.occurred_at,
               (a.kind = 'accepted'
                OR (a.kind = 'reassigned' AND a.details ->> 'offer_state' = 'accepted')) AS took
        FROM arrived a
        WHERE a.kind IN ('offered', 'accepted', 'reassigned', 'transferred', 'reopened',
                         'resolved', 'call_ended')
    ), s AS (
        SELECT e.*,
               coalesce(count(*) FILTER (WHERE kind = 'resolved') OVER (
                   PARTITION BY conversation_id ORDER BY id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seg
        FROM e
    ), measured_events AS (
        SELECT s.*,
               coalesce(bool_or(took) OVER (
                   PARTITION BY conversation_id, seg ORDER BY id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false) AS took_before,
               min(occurred_at) FILTER (WHERE took) OVER (PARTITION BY conversation_id, seg)
                   AS seg_took_at
        FROM s
    ), resolutions AS (
    INSERT INTO conversation_resolutions
        (conversation_id, channel, queue_id, agent_id, created_at, handled_from, resolved_at,
         resolution_seconds, handle_seconds, abandoned)
    SELECT r.conversation_id, m.channel, coalesce(r.queue_id, c.queue_id),
           coalesce(r.agent_id, c.last_agent_id), m.created_at, h.handled_from, r.occurred_at,
           extract(epoch FROM r.occurred_at - m.created_at),
           extract(epoch FROM r.occurred_at - h.handled_from),
           m.channel IN {_LIVE_WRITING} AND h.handled_from IS NULL
               AND NOT (r.seg = 0 AND m.replied_in_cycle)
    FROM measured_events r
    JOIN conversation_metrics m USING (conversation_id)
    JOIN conversations c ON c.id = r.conversation_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN r.seg = 0 THEN coalesce(m.holding_since, r.seg_took_at)
                    ELSE r.seg_took_at END AS handled_from
    ) h
    WHERE r.kind = 'resolved'
    ORDER BY r.id
    ), per AS (
        SELECT e.conversation_id,
               min(e.occurred_at) FILTER (WHERE e.kind = 'offered') AS offered_at,
               min(e.occurred_at) FILTER (WHERE e.took) AS took_at,
               (array_agg(e.agent_id ORDER BY e.id) FILTER (WHERE e.took))[1] AS took_agent,
               count(*) FILTER (WHERE e.kind = 'transferred') AS transfers,
               count(*) FILTER (WHERE e.kind = 'reopened') AS reopens,
               count(*) FILTER (WHERE e.kind = 'resolved') AS resolutions,
               max(e.occurred_at) FILTER (WHERE e.kind = 'resolved') AS resolved_at,
               max(e.seg) AS last_seg
        FROM measured_events e GROUP BY e.conversation_id
    ), fresh AS (
        -- The rows are locked above: what is read here is what the update replaces.
        SELECT p.*, m.first_offered_at IS NULL AND p.offered_at IS NOT NULL AS offer_news,
               m.first_accepted_at IS NULL AND p.took_at IS NOT NULL AS accept_news,
               (SELECT min(x.occurred_at) FROM measured_events x
                WHERE x.conversation_id = p.conversation_id AND x.seg = p.last_seg AND x.took)
                   AS last_seg_took_at,
               (SELECT sum(extract(epoch FROM r.occurred_at - CASE
                           WHEN r.seg = 0 THEN coalesce(m.holding_since, r.seg_took_at)
                           ELSE r.seg_took_at END))
                FROM measured_events r
                WHERE r.conversation_id = p.conversation_id AND r.kind = 'resolved')
                   AS handled,
               (SELECT min(r.occurred_at) FROM measured_events r
                WHERE r.conversation_id = p.conversation_id AND r.kind = 'resolved'
                  AND m.channel IN {_LIVE_WRITING}
                  AND (r.seg > 0 OR m.holding_since IS NULL) AND r.seg_took_at IS NULL
                  AND NOT (r.seg = 0 AND m.replied_in_cycle)) AS chat_left_at,
               (SELECT min(x.occurred_at) FROM measured_events x
                WHERE x.conversation_id = p.conversation_id AND x.kind = 'call_ended'
                  AND NOT x.took_before AND (x.seg > 0 OR m.holding_since IS NULL))
                   AS call_left_at
        FROM per p JOIN conversation_metrics m USING (conversation_id)
    ), observed AS (
        UPDATE conversation_metrics m SET
            first_offered_at = coalesce(m.first_offered_at, f.offered_at),
            first_accepted_at = coalesce(m.first_accepted_at, f.took_at),
            agent_id = coalesce(m.agent_id, f.took_agent),
            transfers = m.transfers + f.transfers,
            reopens = m.reopens + f.reopens,
            resolutions = m.resolutions + f.resolutions,
            last_resolved_at = coalesce(f.resolved_at, m.last_resolved_at),
            handle_seconds = m.handle_seconds + coalesce(f.handled, 0),
            holding_since = CASE WHEN f.resolutions > 0 THEN f.last_seg_took_at
                                 ELSE coalesce(m.holding_since, f.took_at) END,
            replied_in_cycle = m.replied_in_cycle AND f.resolutions = 0,
            -- Nothing is left to answer once resolved; a new message starts afresh.
            awaiting_since = CASE WHEN f.resolutions > 0 THEN NULL ELSE m.awaiting_since END,
            abandoned_at = coalesce(m.abandoned_at, least(f.chat_left_at, f.call_left_at))
        FROM fresh f
        WHERE m.conversation_id = f.conversation_id
        RETURNING m.queue_id, m.channel, m.created_at,
                  CASE WHEN f.offer_news THEN f.offered_at END AS new_offer,
                  CASE WHEN f.accept_news THEN f.took_at END AS new_accept
    )
    INSERT INTO measure_observations (measure, queue_id, channel, seconds)
    SELECT w.measure, o.queue_id, o.channel, extract(epoch FROM w.at - o.created_at)
    FROM observed o
    CROSS JOIN LATERAL (VALUES ('wait_offer', o.new_offer), ('wait_accept', o.new_accept))
        AS w(measure, at)
    WHERE w.at IS NOT NULL;
    RETURN NULL;
END
$$;
"""

_FROM_MESSAGES = """
CREATE FUNCTION conversation_measures_from_messages() RETURNS trigger
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
    WHERE m.conversation_id = p.conversation_id;
    RETURN NULL;
END
$$;
"""
