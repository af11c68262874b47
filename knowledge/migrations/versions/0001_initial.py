"""Services, redirects and council details, with full-text search for the fallback.

SQLite gets an FTS5 index kept in step by triggers; PostgreSQL a GIN index on the same text. Either way an
edit to a service is searchable at once, whoever makes it.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FTS_COLUMNS = "title, summary, synonyms"


def upgrade() -> None:
    op.create_table(
        "council",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("site", sa.String(500), nullable=False),
        sa.Column("phone", sa.String(50), nullable=False),
        sa.Column("opening_hours", sa.String(200), nullable=False),
        sa.Column("out_of_hours_social_care", sa.String(50), nullable=False),
        sa.Column("emergency", sa.String(20), nullable=False),
        sa.Column("samaritans", sa.String(20), nullable=False),
        sa.Column("allowed_domains", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(100), nullable=False, unique=True, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("what_you_need", sa.JSON, nullable=False),
        sa.Column("phone", sa.String(50), nullable=False),
        sa.Column("eligibility", sa.Text, nullable=True),
        sa.Column("synonyms", sa.JSON, nullable=False),
        sa.Column("category", sa.String(100), nullable=False, index=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("review_by", sa.Date, nullable=False),
        sa.Column("always_human", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    op.create_table(
        "redirects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(100), nullable=False, unique=True, index=True),
        sa.Column("to_name", sa.String(300), nullable=False),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("phone", sa.String(50), nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("synonyms", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE services_fts USING fts5({FTS_COLUMNS}, content='services', "
            "content_rowid='id', tokenize='porter unicode61')"
        )
        new = "new.title, new.summary, new.synonyms"
        old = "old.title, old.summary, old.synonyms"
        op.execute(
            "CREATE TRIGGER services_fts_ai AFTER INSERT ON services BEGIN "
            f"INSERT INTO services_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, {new}); END"
        )
        op.execute(
            "CREATE TRIGGER services_fts_ad AFTER DELETE ON services BEGIN "
            f"INSERT INTO services_fts(services_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', old.id, {old}); END"
        )
        op.execute(
            "CREATE TRIGGER services_fts_au AFTER UPDATE ON services BEGIN "
            f"INSERT INTO services_fts(services_fts, rowid, {FTS_COLUMNS}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO services_fts(rowid, {FTS_COLUMNS}) VALUES (new.id, {new}); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE INDEX services_search_idx ON services USING GIN (to_tsvector('english', "
            "title || ' ' || summary || ' ' || synonyms::text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS services_fts")
    op.drop_table("redirects")
    op.drop_table("services")
    op.drop_table("council")
