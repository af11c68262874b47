"""Contact back: an email address or phone number a resident left for the reply to their case.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_contacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("offered_at", sa.DateTime, nullable=False),
        sa.Column("given_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_case_contacts_case_id", "case_contacts", ["case_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_case_contacts_case_id", table_name="case_contacts")
    op.drop_table("case_contacts")
