"""Start-up warning filters for the bot's server processes (Rasa, action server, staff console).

bot/stack.py puts this folder first on those processes' PYTHONPATH, so Python imports this module before
anything else runs. It hides deprecation and future-change warnings raised inside third-party packages
(TensorFlow, SQLAlchemy, sanic, ...), which are the dependencies' business and only bury our own lines.
Warnings attributed to our own packages (bot, actions, knowledge) still show, and errors are not touched.
"""

import warnings

# A regular expression matched against the module a warning is attributed to: anything but our packages.
NOT_OURS = r"(?!(bot|actions|knowledge)(\.|$))"

for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning):
    warnings.filterwarnings("ignore", category=category, module=NOT_OURS)
