"""Privacy: the audit of erasures, subject access exports and retention runs.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("identifier_kind", sa.String(20), nullable=True),
        sa.Column("subject_hash", sa.String(64), nullable=True, index=True),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp(), index=True),
    )


def downgrade() -> None:
    op.drop_table("privacy_audit")
