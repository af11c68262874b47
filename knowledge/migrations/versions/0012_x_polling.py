"""X polling: the poller's cursors (last id seen per account and timeline) and its lease.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "x_poll_cursors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(20), nullable=False),
        sa.Column("last_id", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("account_id", "endpoint", name="uq_x_poll_cursors_account_endpoint"),
    )
    op.create_table(
        "poll_leases",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claim_token", sa.String(40), nullable=True),
        sa.Column("lease_until", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("poll_leases")
    op.drop_table("x_poll_cursors")
