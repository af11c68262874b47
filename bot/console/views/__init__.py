"""The console's areas. Each module's `register(app)` adds its routes to the app; `create_app` calls them
in this order. A new area: add a module with `register(app)` and list it here."""

from __future__ import annotations

from types import ModuleType

from bot.console import jobs
from bot.console.views import (
    cases,
    editor,
    figures,
    links,
    photos,
    reports,
    retraining,
    transfer,
    unanswered,
    users,
)

AREAS: tuple[ModuleType, ...] = (
    cases,
    figures,
    editor,
    users,
    links,
    jobs,
    unanswered,
    transfer,
    retraining,
    photos,  # web chat photos for a case (issue 12)
    reports,  # reports residents filed in the chat (issue 13)
)
