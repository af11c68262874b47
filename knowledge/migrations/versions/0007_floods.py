"""Flood limits: rate-limit counters, case caps.

Rate-limit counters live in memory or Redis, not here. The case caps need a cheap count of a channel's
recent cases (an index) and a record of every handover they turned away (`case_refusals`).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_channel_created", "cases", ["channel", "created_at"])
    op.create_table(
        "case_refusals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation", sa.String(60), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("cap", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    op.create_index("ix_case_refusals_at", "case_refusals", ["at"])


def downgrade() -> None:
    op.drop_index("ix_case_refusals_at", table_name="case_refusals")
    op.drop_table("case_refusals")
    op.drop_index("ix_cases_channel_created", table_name="cases")
