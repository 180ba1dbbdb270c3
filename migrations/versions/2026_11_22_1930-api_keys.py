"""API keys for the console API, and a change feed of conversations for long-polls.

Revision ID: 20261122_api_keys
Revises: 20261122_core
Create Date: 2026-11-22 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261122_api_keys"
down_revision: str | None = "20261122_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every change of a conversation row is announced on this channel after its transaction
# commits, naming the agents whose work lists it may touch (comma-separated, possibly
# none). One listening connection per router process fans it out to waiting long-polls;
# PostgreSQL folds identical notifications of one transaction into one.
NOTIFY_FUNCTION = """
CREATE FUNCTION router_notify_conversation_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('router_conversations', concat_ws(',', NEW.agent_id::text));
    ELSE
        PERFORM pg_notify(
            'router_conversations',
            concat_ws(',', NEW.agent_id::text, OLD.agent_id::text, NEW.last_agent_id::text)
        );
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role <> 'agent' OR agent_id IS NOT NULL",
            name=op.f("ck_api_keys_agent_key_has_agent"),
        ),
        sa.CheckConstraint(
            "role IN ('agent', 'supervisor', 'admin')", name=op.f("ck_api_keys_role")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_api_keys_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_agent_id"), "api_keys", ["agent_id"], unique=False)

    op.create_index("ix_conversations_last_agent", "conversations", ["last_agent_id"])
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER conversations_notify_insert AFTER INSERT ON conversations"
        " FOR EACH ROW EXECUTE FUNCTION router_notify_conversation_change()"
    )
    op.execute(
        "CREATE TRIGGER conversations_notify_update AFTER UPDATE ON conversations"
        " FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)"
        " EXECUTE FUNCTION router_notify_conversation_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS conversations_notify_update ON conversations")
    op.execute("DROP TRIGGER IF EXISTS conversations_notify_insert ON conversations")
    op.execute("DROP FUNCTION IF EXISTS router_notify_conversation_change()")
    op.drop_index("ix_conversations_last_agent", table_name="conversations")
    op.drop_index(op.f("ix_api_keys_agent_id"), table_name="api_keys")
    op.drop_table("api_keys")
