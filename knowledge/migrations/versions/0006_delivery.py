"""Durable delivery: outbound retry queue, claim leases for inbound work.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CLAIM = [("claimed_by", sa.String(200)), ("claim_token", sa.String(40)), ("lease_until", sa.DateTime)]
_INBOUND = [("next_attempt_at", sa.DateTime), *_CLAIM]
_OUTBOUND = [
    ("inbound_event_id", sa.Integer),
    ("case_message_id", sa.Integer),
    ("text", sa.Text),
    ("buttons", sa.JSON),
    ("target", sa.JSON),
    ("next_attempt_at", sa.DateTime),
    ("window_ends_at", sa.DateTime),
    ("give_up_at", sa.DateTime),
    ("error_code", sa.String(80)),
    *_CLAIM,
    ("finished_at", sa.DateTime),
]


def upgrade() -> None:
    for name, type_ in _INBOUND:
        op.add_column("inbound_events", sa.Column(name, type_, nullable=True))
    for name, type_ in _OUTBOUND:
        op.add_column("outbound_messages", sa.Column(name, type_, nullable=True))
    op.add_column("outbound_messages", sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
    op.add_column("outbound_messages", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_outbound_messages_inbound_event_id", "outbound_messages", ["inbound_event_id"])
    op.create_index("ix_outbound_messages_status", "outbound_messages", ["status"])


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_status", table_name="outbound_messages")
    op.drop_index("ix_outbound_messages_inbound_event_id", table_name="outbound_messages")
    with op.batch_alter_table("outbound_messages") as batch:
        for name in [n for n, _ in _OUTBOUND] + ["seq", "attempts"]:
            batch.drop_column(name)
    with op.batch_alter_table("inbound_events") as batch:
        for name, _ in _INBOUND:
            batch.drop_column(name)
