"""Understanding: each service's cost, timing and editors' example questions.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("cost", sa.Text, nullable=True))
        batch.add_column(sa.Column("timing", sa.Text, nullable=True))
        batch.add_column(sa.Column("examples", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_column("examples")
        batch.drop_column("timing")
        batch.drop_column("cost")
