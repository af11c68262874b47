"""Rasa's SQL tracker store, with SQL parameters kept out of error messages.

Rasa's `SQLTrackerStore` makes its own engine, and SQLAlchemy's default puts a failed statement's values
into the exception text (and PostgreSQL adds the failing row): the resident's message and sender id would
then reach the Rasa server's log.
The endpoints file names this class (`type: bot.tracker_store.QuietSQLTrackerStore`) in place of `SQL`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs

from knowledge.db import hide_values_in_errors


class QuietSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose engine hides the values of a failed statement (ours and the database's
    own DETAIL line, see `knowledge.db.hide_values_in_errors`); everything else is Rasa's."""

    engine: sa.engine.Engine  # made by Rasa's constructor, replaced in ours

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Rasa builds the engine inside its constructor with no way to pass options, so replace it with one
        # on the same URL (which may be the database Rasa just created) and the same pool settings.
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, hide_parameters=True, **create_engine_kwargs(url))
        hide_values_in_errors(self.engine)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
