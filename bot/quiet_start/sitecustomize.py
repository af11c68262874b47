"""Start-up warning filters for the bot's server processes (Rasa, action server, staff console).

bot/stack.py puts this folder first on those processes' PYTHONPATH, so Python imports this module before
anything else runs. It hides deprecation and future-change warnings raised inside third-party packages
(TensorFlow, SQLAlchemy, sanic, ...), which are the dependencies' business and only bury our own lines.
Warnings attributed to our own packages (bot, actions, knowledge) still show, and errors are not touched.
"""

import os
import warnings
from typing import TextIO

_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)

# A regular expression matched against the module a warning is attributed to: anything but our packages.
NOT_OURS = r"(?!(bot|actions|knowledge)(\.|$))"

for category in _NOISE:
    warnings.filterwarnings("ignore", category=category, module=NOT_OURS)

# Filters alone are not enough: some dependencies add their own at the front while they import (sanic's
# chain inserts ("once", DeprecationWarning)), which would show their warnings again. So the last step,
# showing a warning, also drops these kinds when the warning points into an installed package or the
# standard library rather than into our code.
_INSTALLED = ("site-packages", "dist-packages", f"{os.sep}lib{os.sep}python")
_show = warnings.showwarning


def _show_unless_dependency_noise(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if issubclass(category, _NOISE) and any(part in str(filename) for part in _INSTALLED):
        return
    _show(message, category, filename, lineno, file, line)


warnings.showwarning = _show_unless_dependency_noise
