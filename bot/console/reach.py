"""How staff can reach a case's resident right now, in words for the case page, next to the reply box.

From the channel table's `staff_reach` (the platforms' windows live there, not here) and the time of the
resident's last message; the other ways back they left (knowledge/casework/contact_back.py) follow it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from bot.console.templating import uk_time
from knowledge.casework import contact_back
from knowledge.channels import HUMAN_AGENT_WINDOW, META, NOTHING, TEMPLATE_ONLY, Reach, X, channel, staff_reach
from knowledge.models import CaseContact
from knowledge.settings import settings

_PLATFORM = {META: "Meta", X: "X"}


@dataclass(frozen=True)
class ReachBanner:
    """What the case page says before staff type. `reach`: the Reach value; `words`: the sentence;
    `blocked`: nothing sent on the channel would arrive (staff should use the contact below, if any);
    `email`, `phone` (as staff dial it) and `phone_link` (tel:+44...): the contact the resident left."""

    reach: str
    words: str
    blocked: bool
    email: Optional[str] = None
    phone: Optional[str] = None
    phone_link: Optional[str] = None

    @property
    def contact_words(self) -> str:
        return "" if (self.email or self.phone) else "They left no other contact."


def _ago(since: dt.timedelta) -> str:
    days = since.days
    if days >= 2:
        return f"{days} days ago"
    hours = int(since.total_seconds() // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    minutes = max(int(since.total_seconds() // 60), 0)
    return f"{minutes} minute{'s' if minutes != 1 else ''} ago"


def banner(
    channel_name: str, last_inbound_at: Optional[dt.datetime], contact: Optional[CaseContact], now: dt.datetime
) -> ReachBanner:
    """The reach banner for a case on `channel_name` whose resident last wrote at `last_inbound_at`."""
    email = contact.email if contact is not None else None
    phone = contact.phone if contact is not None else None
    extra = {
        "email": email,
        "phone": contact_back.national_phone(phone) if phone else None,
        "phone_link": f"tel:{phone}" if phone else None,
    }
    try:
        here = channel(channel_name)
    except KeyError:
        return ReachBanner(
            "none", f"Replies can't be sent on '{channel_name}': it isn't a channel we know.", True, **extra
        )
    name = here.title or channel_name
    reach = staff_reach(channel_name, last_inbound_at, now, template_ready=bool(settings().whatsapp_reply_template))
    platform = _PLATFORM.get(here.platform, "The platform")
    if reach == Reach.POLLED:
        words = "They'll see your reply when they next open the chat"
        words += f"; their last message was {_ago(now - last_inbound_at)}." if last_inbound_at else "."
        return ReachBanner(reach.value, words, False, **extra)
    if reach == Reach.FREE:
        if here.window is None or last_inbound_at is None:
            return ReachBanner(reach.value, f"Your reply goes to them on {name}.", False, **extra)
        until = uk_time(last_inbound_at + here.window, "%d %b %H:%M")
        return ReachBanner(
            reach.value, f"Your reply goes to them on {name} as an ordinary message until {until}.", False, **extra
        )
    if reach == Reach.TAGGED and last_inbound_at is not None:
        until = uk_time(last_inbound_at + HUMAN_AGENT_WINDOW, "%d %b %H:%M")
        words = (
            f"Replies on {name} now go with Meta's human-agent tag, until {until}: the 24-hour window has "
            f"closed (the resident's last message was {_ago(now - last_inbound_at)})."
        )
        return ReachBanner(reach.value, words, False, **extra)
    if reach == Reach.TEMPLATE:
        return ReachBanner(
            reach.value,
            f"Only an approved template can reach them on {name} now; your reply follows when they answer.",
            False,
            **extra,
        )
    if last_inbound_at is None:
        words = f"They can't be reached on {name}: they have never written to us there."
    elif here.after_window == NOTHING:
        words = (
            f"They can't be reached on {name} any more: {platform} allows one private reply within "
            f"{here.window_words()} of the comment (it was {_ago(now - last_inbound_at)})."
        )
    else:
        words = (
            f"They can't be reached on {name} any more: {platform} allows replies up to "
            f"{here.window_words(staff=True)} after the resident's last message ({_ago(now - last_inbound_at)})."
        )
        if here.after_window == TEMPLATE_ONLY:
            words += " After that only an approved template may invite them back, and none is configured."
    return ReachBanner(reach.value, words, True, **extra)
