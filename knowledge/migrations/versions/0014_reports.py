"""Reports: problems residents report in the chat, who hears back, status history, drafts, poll cursors.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("reference", sa.String(30), nullable=False, unique=True),
        sa.Column("category", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(30), nullable=False, index=True),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("street", sa.String(120), nullable=True),
        sa.Column("house_number", sa.String(20), nullable=True),
        sa.Column("postcode", sa.String(10), nullable=True),
        sa.Column("ward", sa.String(60), nullable=True, index=True),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("status_changed_at", sa.DateTime, nullable=False),
        sa.Column("open311_service_code", sa.String(100), nullable=True),
        sa.Column("open311_id", sa.String(100), nullable=True, index=True),
        sa.Column("send_state", sa.String(20), nullable=False, index=True),
        sa.Column("send_attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claim_token", sa.String(40), nullable=True),
        sa.Column("lease_until", sa.DateTime, nullable=True),
        sa.Column("send_error", sa.Text, nullable=True),
        sa.Column("sent_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "report_residents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, nullable=False, index=True),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("how", sa.String(10), nullable=False),
        sa.Column("joined_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("report_id", "conversation_id", name="uq_report_residents_conversation"),
    )
    op.create_table(
        "report_updates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, nullable=False, index=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("open311_update_id", sa.String(100), nullable=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("report_id", "open311_update_id", name="uq_report_updates_open311"),
    )
    op.create_table(
        "report_notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("update_id", sa.Integer, nullable=False, index=True),
        sa.Column("resident_id", sa.Integer, nullable=False, index=True),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("due_at", sa.DateTime, nullable=True, index=True),
        sa.Column("outbound_message_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("update_id", "resident_id", name="uq_report_notifications_once"),
    )
    op.create_table(
        "report_photos",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, nullable=False, index=True),
        sa.Column("attachment_id", sa.Integer, nullable=False, index=True),
        sa.UniqueConstraint("report_id", "attachment_id", name="uq_report_photos_once"),
    )
    op.create_table(
        "report_drafts",
        sa.Column("conversation_id", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("filed_report_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "sync_cursors",
        "report_drafts",
        "report_photos",
        "report_notifications",
        "report_updates",
        "report_residents",
        "reports",
    ):
        op.drop_table(table)
