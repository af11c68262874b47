"""Alembic environment: runs migrations online against the configured URL."""

from alembic import context
from sqlalchemy import create_engine

from knowledge.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
connectable = create_engine(url, future=True, hide_parameters=True)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
