"""How service keys and Rasa intent names relate: `bins.missed` <-> `svc_bins_missed`.

Intent names can't hold dots safely, so the mapping is mechanical; keys themselves must not contain `_`
next to a dot ambiguity, which KEY_RE in service_schema.py already rules out for the shipped catalogue.
"""

from __future__ import annotations

from typing import Optional

SERVICE_PREFIX = "svc_"
REDIRECT_PREFIX = "redirect_"


def intent_for_service(key: str) -> str:
    """`bins.missed` -> `svc_bins_missed`."""
    return SERVICE_PREFIX + key.replace(".", "_")


def intent_for_redirect(key: str) -> str:
    """`power_cut` -> `redirect_power_cut`."""
    return REDIRECT_PREFIX + key


def redirect_key(intent: Optional[str]) -> Optional[str]:
    """The redirect key an intent names, or None."""
    if intent and intent.startswith(REDIRECT_PREFIX):
        return intent[len(REDIRECT_PREFIX) :]
    return None


def is_service_intent(intent: Optional[str]) -> bool:
    return intent is not None and intent.startswith(SERVICE_PREFIX)
