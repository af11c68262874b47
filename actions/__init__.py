"""Rasa SDK actions: thin wrappers that ask `knowledge` what to say and send it.

`python -m rasa_sdk --actions actions` imports this package, which registers every action below.
"""

from actions.conversation import ActionHumanHandoff, ActionOutOfScope, ActionWelsh  # noqa: F401
from actions.fallback import ActionKnowledgeFallback  # noqa: F401
from actions.places import ActionAskPlace, ActionPlaceAnswer, ValidatePlaceForm  # noqa: F401  (places, issue 13)
from actions.report_form import (  # noqa: F401
    AskReportChange,
    AskReportConfirm,
    AskReportDetail,
    AskReportNearby,
    AskReportPhoto,
    AskReportResume,
    AskReportWhere,
    ValidateReportForm,
)
from actions.reports import (  # noqa: F401
    ActionReportProgress,
    ActionReportSubmit,
    ActionSharedLocation,
    ActionSharedPhoto,
    ActionStartReport,
)
from actions.safety import ActionCrisis  # noqa: F401
from actions.services import ActionAnswerService, ActionRedirect  # noqa: F401
