"""Staff users and sessions; handover cases, their timeline, audit and reference counters.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.func.current_timestamp()
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
        sa.Column("last_login_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(30), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False, server_default="private"),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("assignee_id", sa.Integer, nullable=True, index=True),
        sa.Column("topic", sa.String(200), nullable=True),
        sa.Column("tags", sa.JSON, nullable=True),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("outcome_note", sa.Text, nullable=True),
        sa.Column("satisfaction", sa.Integer, nullable=True),
        sa.Column("satisfaction_asked_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
        sa.Column("first_response_at", sa.DateTime, nullable=True),
        sa.Column("resolved_at", sa.DateTime, nullable=True),
        sa.Column("sla_due_at", sa.DateTime, nullable=False),
        sa.Column("last_activity_at", sa.DateTime, nullable=False, server_default=now),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "case_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, nullable=False, index=True),
        sa.Column("author", sa.String(20), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("meta", sa.JSON, nullable=True),
        sa.Column("client_nonce", sa.String(64), nullable=True),
        sa.Column("delivery", sa.String(20), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
        sa.UniqueConstraint("case_id", "client_nonce", name="uq_case_messages_nonce"),
    )
    op.create_table(
        "case_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, nullable=False, index=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.Column("at", sa.DateTime, nullable=False, server_default=now),
    )
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("reference_counters", "case_audit", "case_messages", "cases", "staff_sessions", "staff_users"):
        op.drop_table(table)
