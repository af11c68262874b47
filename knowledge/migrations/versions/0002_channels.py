"""Conversations on the social channels: dedupe/work queue, attachments, outbound attempts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.func.current_timestamp()
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(40), nullable=False, index=True),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("platform_user_id", sa.String(200), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=True),
        sa.Column("reply_to", sa.String(200), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=now),
    )
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_key", sa.String(300), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("event", sa.JSON, nullable=True),
        sa.Column("received_at", sa.DateTime, nullable=False, server_default=now, index=True),
        sa.Column("processed_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("media_id", sa.String(300), nullable=True),
        sa.Column("mime_type", sa.String(100), nullable=True),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("supported", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("received_at", sa.DateTime, nullable=False, server_default=now),
    )
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("platform_message_id", sa.String(300), nullable=True),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
    )


def downgrade() -> None:
    for table in ("outbound_messages", "attachments", "inbound_events", "conversations"):
        op.drop_table(table)
