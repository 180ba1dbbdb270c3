"""Report days: each local day's aggregates kept per time zone and grouping, and the hours
whose facts changed since.

`report_changes` is appended to by statement-level triggers on every table a report reads,
in the writer's transaction: one row per UTC hour a change touches (the hour a report
buckets the changed row under, before and after the change). The reports' refresher
consumes those rows and forgets the days they overlap; a report never reads a day that has
a change not yet consumed. Definitions: docs/reports.md#report-days.

Revision ID: 20261202_report_days
Revises: 20261202_report_outcomes
Create Date: 2026-12-02 14:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_report_days"
down_revision: str | None = "20261202_report_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("hour", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_changes")),
    )
    op.create_index("ix_report_changes_hour", "report_changes", ["hour"])
    op.create_table(
        "report_views",
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("by", sa.String(length=16), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("tz", "by", name=op.f("pk_report_views")),
    )
    op.create_table(
        "report_days",
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("by", sa.String(length=16), nullable=False),
        sa.Column("day_start", _TIME, nullable=False),
        sa.Column("day_end", _TIME, nullable=False),
        sa.Column("computed_at", _TIME, nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("bin_keys", sa.Text(), nullable=False),
        sa.Column("bins", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tz", "by"],
            ["report_views.tz", "report_views.by"],
            name=op.f("fk_report_days_tz_report_views"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tz", "by", "day_start", name=op.f("pk_report_days")),
    )
    for table, function, events in _TRIGGERS:
        op.execute(function)
        for event in events:
            referencing = {
                "INSERT": "NEW TABLE AS changed_new",
                "UPDATE": "OLD TABLE AS changed_old NEW TABLE AS changed_new",
                "DELETE": "OLD TABLE AS changed_old",
            }[event]
            op.execute(
                f"CREATE TRIGGER {table}_report_changes_{event.lower()} AFTER {event}"
                f" ON {table} REFERENCING {referencing} FOR EACH STATEMENT"
                f" EXECUTE FUNCTION {table}_report_changes()"
            )


def downgrade() -> None:
    for table, _, events in _TRIGGERS:
        for event in events:
            op.execute(f"DROP TRIGGER {table}_report_changes_{event.lower()} ON {table}")
        op.execute(f"DROP FUNCTION {table}_report_changes()")
    op.drop_table("report_days")
    op.drop_table("report_views")
    op.drop_index("ix_report_changes_hour", table_name="report_changes")
    op.drop_table("report_changes")


# Each function marks the UTC hours (date_trunc in UTC whatever the session's zone) that a
# report buckets the changed rows under. A branch names only the transition tables its
# event has: PL/pgSQL plans a statement when it first runs it.
_MARK = "INSERT INTO report_changes (hour) SELECT DISTINCT date_trunc('hour', t, 'UTC') FROM"

# Conversation measures are bucketed by creation (and abandonment); the SLA clocks are
# grouped by the metrics row too, so a change of its group moves the clocks settled so far.
_METRICS = f"""
CREATE FUNCTION conversation_metrics_report_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK} (
            SELECT created_at FROM changed_new
            UNION ALL SELECT abandoned_at FROM changed_new
            UNION ALL SELECT least(s.met_at, s.breached_at) FROM conversation_slas s
            WHERE s.conversation_id IN (SELECT conversation_id FROM changed_new)
        ) AS x(t) WHERE t IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        {_MARK} (
            SELECT created_at FROM changed_old UNION ALL SELECT abandoned_at FROM changed_old
        ) AS x(t) WHERE t IS NOT NULL;
    ELSE
        {_MARK} (
            SELECT t FROM changed_old o JOIN changed_new n USING (conversation_id)
            CROSS JOIN LATERAL (VALUES (o.created_at), (n.created_at), (o.abandoned_at),
                                       (n.abandoned_at)) AS v(t)
            WHERE (o.created_at, o.queue_id, o.agent_id, o.channel, o.transfers, o.reopens,
                   o.abandoned_at, o.first_offered_at, o.first_accepted_at)
                  IS DISTINCT FROM
                  (n.created_at, n.queue_id, n.agent_id, n.channel, n.transfers, n.reopens,
                   n.abandoned_at, n.first_offered_at, n.first_accepted_at)
            UNION ALL
            SELECT least(s.met_at, s.breached_at)
            FROM changed_old o JOIN changed_new n USING (conversation_id)
            JOIN conversation_slas s ON s.conversation_id = n.conversation_id
            WHERE (o.queue_id, o.agent_id, o.channel) IS DISTINCT FROM
                  (n.queue_id, n.agent_id, n.channel)
        ) AS x(t) WHERE t IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
"""


def _appended(table: str, column: str) -> str:
    """Rows only ever inserted (or deleted with their conversation): the hour of `column`."""
    return f"""
CREATE FUNCTION {table}_report_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK} (SELECT {column} FROM changed_new) AS x(t);
    ELSE
        {_MARK} (SELECT {column} FROM changed_old) AS x(t);
    END IF;
    RETURN NULL;
END
$$;
"""


# A clock counts in the hour it settled (met or breached, whichever came first).
_SLAS = f"""
CREATE FUNCTION conversation_slas_report_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK} (SELECT least(met_at, breached_at) FROM changed_new) AS x(t)
        WHERE t IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        {_MARK} (SELECT least(met_at, breached_at) FROM changed_old) AS x(t)
        WHERE t IS NOT NULL;
    ELSE
        {_MARK} (
            SELECT t FROM changed_old o JOIN changed_new n USING (conversation_id, target)
            CROSS JOIN LATERAL (VALUES (least(o.met_at, o.breached_at)),
                                       (least(n.met_at, n.breached_at))) AS v(t)
            WHERE (o.met_at, o.breached_at, o.due_at)
                  IS DISTINCT FROM (n.met_at, n.breached_at, n.due_at)
        ) AS x(t) WHERE t IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;
"""

_FEEDBACK = f"""
CREATE FUNCTION feedback_report_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_MARK} (SELECT received_at FROM changed_new) AS x(t);
    ELSIF TG_OP = 'DELETE' THEN
        {_MARK} (SELECT received_at FROM changed_old) AS x(t);
    ELSE
        {_MARK} (
            SELECT t FROM changed_old o JOIN changed_new n USING (id)
            CROSS JOIN LATERAL (VALUES (o.received_at), (n.received_at)) AS v(t)
            WHERE (o.received_at, o.kind, o.score, o.queue_id, o.agent_id, o.channel)
                  IS DISTINCT FROM (n.received_at, n.kind, n.score, n.queue_id, n.agent_id,
                                    n.channel)
        ) AS x(t);
    END IF;
    RETURN NULL;
END
$$;
"""

_TRIGGERS = (
    ("conversation_metrics", _METRICS, ("INSERT", "UPDATE", "DELETE")),
    (
        "conversation_responses",
        _appended("conversation_responses", "responded_at"),
        ("INSERT", "DELETE"),
    ),
    (
        "conversation_resolutions",
        _appended("conversation_resolutions", "resolved_at"),
        ("INSERT", "DELETE"),
    ),
    ("conversation_slas", _SLAS, ("INSERT", "UPDATE", "DELETE")),
    ("feedback", _FEEDBACK, ("INSERT", "UPDATE", "DELETE")),
)
