"""Editing the knowledge base: service versions for optimistic locking, published content versions,
drafts, notices, unanswered questions and link checks.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.func.current_timestamp()
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "content_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
    )
    op.create_table(
        "service_drafts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_key", sa.String(100), nullable=False, index=True),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=now),
        sa.UniqueConstraint("service_key", "author", name="uq_service_drafts_key_author"),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("service_keys", sa.JSON, nullable=False),
        sa.Column("area", sa.String(60), nullable=True),
        sa.Column("starts_at", sa.DateTime, nullable=False, index=True),
        sa.Column("ends_at", sa.DateTime, nullable=False, index=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=now),
    )
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("intent", sa.String(100), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("channel", sa.String(40), nullable=True),
        sa.Column("conversation", sa.String(60), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=now, index=True),
        sa.Column("exported_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "link_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_key", sa.String(100), nullable=False, index=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("final_url", sa.String(500), nullable=True),
        sa.Column("detail", sa.String(300), nullable=True),
        sa.Column("checked_at", sa.DateTime, nullable=False, server_default=now),
    )


def downgrade() -> None:
    for table in ("link_checks", "unanswered_questions", "notices", "service_drafts", "content_versions"):
        op.drop_table(table)
    with op.batch_alter_table("services") as batch:
        batch.drop_column("version")
