"""Every channel's facts in one table: what its conversation ids look like, whether replies are public,
which platform carries it, its text limits, its messaging window and where a public conversation's private
follow-up goes.

A plain module with no Rasa, Sanic or database import, so any process (the Rasa server, the action server,
the staff console, scripts) can read it cheaply; it lives in `knowledge/` because all of them may import
from there (imports run `bot/ -> knowledge/` and `actions/ -> knowledge/`).
Everything that needs a channel fact reads it from here; nothing else keeps its own list of channels. The
numbers are the platforms' published rules (see the comment on each record).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Optional


@dataclass(frozen=True)
class Limits:
    """What one channel accepts in one message.

    `max_chars`: longest text in one message; `url_weight`: if set, every link counts as this many
    characters (X shortens links to 23); `quick_replies`/`quick_reply_chars`: Messenger-style quick replies;
    `reply_buttons`/`button_chars` and `list_rows`/`row_chars`: WhatsApp's interactive buttons and list;
    `interactive_chars`: shorter text limit of a message that carries buttons (WhatsApp: 1,024)."""

    max_chars: int
    url_weight: Optional[int] = None
    quick_replies: int = 0
    quick_reply_chars: int = 20
    reply_buttons: int = 0
    button_chars: int = 20
    list_rows: int = 0
    row_chars: int = 24
    interactive_chars: Optional[int] = None

    @property
    def has_buttons(self) -> bool:
        """The channel shows choices as buttons (quick replies or reply buttons), not as text lines."""
        return bool(self.quick_replies or self.reply_buttons)


# Platforms: who carries the channel's messages and receives our API calls.
META, X, LOCAL = "meta", "x", "local"  # local: our own web chat page and REST callers, no platform

# What staff can still do once a private channel's window has closed (platform rules, GUIDE.md). We send
# nothing free-form outside the window on any channel: the platform would refuse it, and repeated refusals
# put the page's messaging at risk.
HUMAN_AGENT_TAG = "human_agent_tag"  # Messenger/Instagram: a person may reply up to 7 days later with the tag
TEMPLATE_ONLY = "template_only"  # WhatsApp: only an approved template message
NOTHING = "nothing"  # comments: the one private reply is allowed for 7 days, then nothing
# Meta's HUMAN_AGENT tag: a person (never the bot) may answer a Messenger or Instagram conversation up to
# 7 days after the resident's last message, past the standard 24-hour window.
HUMAN_AGENT_WINDOW = dt.timedelta(days=7)


@dataclass(frozen=True)
class Channel:
    """One channel residents reach us on.

    `name`: as stored in conversations and cases, and as Rasa's input channel is named.
    `id_prefix`: what every conversation id (Rasa's sender id) on this channel starts with, so two
    platforms' user ids can never collide and no REST caller can write into a platform's conversation.
    `public`: replies are seen by everyone (comments under a post, mentions); personal details and
    sensitive topics never go there.
    `platform`: META, X or LOCAL: whose API sends our replies.
    `limits`: the platform's text limits for one message (None: LOCAL, nothing goes through a platform).
    `window`: how long after the resident's last message (for a comment: after the comment) a free-form
    message may still be sent; None: no such rule.
    `after_window`: what the platform still allows once the window has closed (HUMAN_AGENT_TAG,
    TEMPLATE_ONLY, NOTHING; None where there is no window).
    `private_side`: for a public channel, the private channel its follow-ups land in (a comment's private
    reply lands in Messenger or Instagram Direct, a mention's in X DMs): they are held to that channel's
    limits. `private_word`: what residents call that private message on the platform.
    `one_private_reply`: the follow-up must be a single message (Meta: one private reply per comment).
    `polled`: residents' pages collect our messages (web chat, REST); we can't push to them.
    `webhook_object`: Meta's webhook `object` whose events carry this channel (None: not a Meta webhook).
    `title`: the channel's name as staff read it in a sentence ("WhatsApp", "Facebook comments")."""

    name: str
    id_prefix: str
    public: bool
    platform: str
    limits: Optional[Limits] = None
    window: Optional[dt.timedelta] = None
    after_window: Optional[str] = None
    private_side: Optional[str] = None
    private_word: Optional[str] = None
    one_private_reply: bool = False
    polled: bool = False
    webhook_object: Optional[str] = None
    title: str = ""

    @property
    def origin(self) -> str:
        """ "public" or "private", as conversations and the actions record it."""
        return "public" if self.public else "private"

    @property
    def staff_window(self) -> Optional[dt.timedelta]:
        """How long after the resident's last message a member of staff may still reply: the human-agent
        window where the platform has one (Messenger, Instagram: 7 days), else the channel's own window."""
        return HUMAN_AGENT_WINDOW if self.after_window == HUMAN_AGENT_TAG else self.window

    def window_words(self, staff: bool = False) -> str:
        """The window in words for staff ("24 hours", "7 days"), or "" where there is none. `staff`: the
        window for a person's reply (`staff_window`) rather than the bot's."""
        window = self.staff_window if staff else self.window
        if window is None:
            return ""
        hours = int(window.total_seconds() // 3600)
        if hours % 24 == 0 and hours > 24:
            return f"{hours // 24} days"
        return f"{hours} hours"


DAY = dt.timedelta(hours=24)
WEEK = dt.timedelta(days=7)

# Meta Send API (Messenger): text up to 2,000 characters, 13 quick replies with 20-character titles.
_MESSENGER = Limits(2000, quick_replies=13, quick_reply_chars=20)
# Instagram messaging: 1,000 bytes of text (we count characters conservatively), same quick replies.
_INSTAGRAM = Limits(1000, quick_replies=13, quick_reply_chars=20)

# In the order staff see them in the console's channel filter.
CHANNELS: tuple[Channel, ...] = (
    # Our web chat page: conversation ids "web:<id the page chose>"; the page polls for staff replies.
    Channel("webchat", "web:", public=False, platform=LOCAL, polled=True, title="the web chat"),
    # REST callers name their own sender; "rest:" keeps them out of every other channel's conversations.
    Channel("rest", "rest:", public=False, platform=LOCAL, polled=True, title="the REST channel"),
    # Messenger: free-form messages within 24 hours of the resident's last message; a person may answer
    # up to 7 days later with the HUMAN_AGENT tag (Meta messaging policy).
    Channel(
        "messenger",
        "messenger:",
        public=False,
        platform=META,
        limits=_MESSENGER,
        window=DAY,
        after_window=HUMAN_AGENT_TAG,
        webhook_object="page",
        title="Messenger",
    ),
    # Comments on the council's Facebook Page: public replies up to 8,000 characters; one private reply per
    # comment, within 7 days, delivered to the author's Messenger inbox under Messenger's limits.
    Channel(
        "facebook_comment",
        "facebook_comment:",
        public=True,
        platform=META,
        limits=Limits(8000),
        window=WEEK,
        after_window=NOTHING,
        private_side="messenger",
        private_word="private message",
        one_private_reply=True,
        webhook_object="page",
        title="Facebook comments",
    ),
    # Instagram Direct: as Messenger, with 1,000 characters of text.
    Channel(
        "instagram",
        "instagram:",
        public=False,
        platform=META,
        limits=_INSTAGRAM,
        window=DAY,
        after_window=HUMAN_AGENT_TAG,
        webhook_object="instagram",
        title="Instagram Direct",
    ),
    # Instagram comments: public replies up to 2,200 characters; one private reply per comment within 7 days,
    # delivered to Instagram Direct, so Instagram's 1,000-character limit applies to it.
    Channel(
        "instagram_comment",
        "instagram_comment:",
        public=True,
        platform=META,
        limits=Limits(2200),
        window=WEEK,
        after_window=NOTHING,
        private_side="instagram",
        private_word="direct message",
        one_private_reply=True,
        webhook_object="instagram",
        title="Instagram comments",
    ),
    # WhatsApp Cloud API: text 4,096; an interactive body 1,024 with 3 reply buttons of 20 characters or a
    # list of 10 rows of 24. Outside 24 hours only an approved template may be sent.
    Channel(
        "whatsapp",
        "whatsapp:",
        public=False,
        platform=META,
        limits=Limits(4096, reply_buttons=3, button_chars=20, list_rows=10, row_chars=24, interactive_chars=1024),
        window=DAY,
        after_window=TEMPLATE_ONLY,
        webhook_object="whatsapp_business_account",
        title="WhatsApp",
    ),
    # X direct messages: up to 10,000 characters, no messaging window on the API we use.
    Channel("x", "x:", public=False, platform=X, limits=Limits(10000), title="X direct messages"),
    # X mentions: a reply post is 280 characters, each link counting 23 whatever its length; the private
    # follow-up is a DM (as many messages as needed).
    Channel(
        "x_mention",
        "x_mention:",
        public=True,
        platform=X,
        limits=Limits(280, url_weight=23),
        private_side="x",
        private_word="DM",
        title="X mentions",
    ),
)

_BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}

#: every channel's name
NAMES: tuple[str, ...] = tuple(_BY_NAME)
#: channels whose replies everyone can see (comments and mentions)
PUBLIC: frozenset[str] = frozenset(c.name for c in CHANNELS if c.public)
#: channels whose residents collect our messages themselves (web chat, REST)
POLLED: frozenset[str] = frozenset(c.name for c in CHANNELS if c.polled)
#: channels that arrive on Meta's webhook and are sent through the Graph API
META_CHANNELS: frozenset[str] = frozenset(c.name for c in CHANNELS if c.platform == META)
#: channels that arrive on X's webhook and are sent through the X API
X_CHANNELS: frozenset[str] = frozenset(c.name for c in CHANNELS if c.platform == X)
#: each platform channel's limits by name (the text-fitting functions take a `Limits`)
LIMITS: dict[str, Limits] = {c.name: c.limits for c in CHANNELS if c.limits is not None}


def channel(name: str) -> Channel:
    """The channel called `name`; KeyError for a name no channel has."""
    return _BY_NAME[name]


def text_limits(name: str) -> Limits:
    """The limits of platform channel `name`. ValueError for web chat and REST: nothing we send to them
    passes through a platform, so no platform limit applies."""
    limits = channel(name).limits
    if limits is None:
        raise ValueError(f"channel {name!r} sends through no platform, so it has no platform limits")
    return limits


def private_side(name: str) -> Channel:
    """Where the private part of conversation on channel `name` goes: the channel itself if it is private,
    else the private channel its follow-ups land in."""
    found = channel(name)
    return channel(found.private_side) if found.private_side else found


class Reach(StrEnum):
    """How a member of staff can reach a resident on their channel right now.

    FREE: a plain message goes (inside the window, or a channel with none); TAGGED: Messenger/Instagram past
    24 hours, a person's reply goes with the HUMAN_AGENT tag; TEMPLATE: WhatsApp past 24 hours, only an
    approved template inviting the resident back, the reply itself once they answer; POLLED: web chat and
    REST, the reply waits until the resident's page next collects it (they may never come back); NONE: the
    platform allows nothing more in this conversation."""

    FREE = "free"
    TAGGED = "tagged"
    TEMPLATE = "template"
    POLLED = "polled"
    NONE = "none"


def staff_reach(
    name: str, last_inbound_at: Optional[dt.datetime], now: dt.datetime, template_ready: bool = False
) -> Reach:
    """How staff can reach the resident of a conversation on channel `name` whose last message came at
    `last_inbound_at` (None: never, so nothing may be sent). `template_ready`: a WhatsApp template for
    inviting residents back is configured (without one, WhatsApp past 24 hours is NONE)."""
    here = channel(name)
    if here.polled:
        return Reach.POLLED
    if here.window is None:
        return Reach.FREE
    if last_inbound_at is None:
        return Reach.NONE
    since = now - last_inbound_at
    if since < here.window:
        return Reach.FREE
    if here.after_window == HUMAN_AGENT_TAG and since < HUMAN_AGENT_WINDOW:
        return Reach.TAGGED
    if here.after_window == TEMPLATE_ONLY and template_ready:
        return Reach.TEMPLATE
    return Reach.NONE


def for_webhook(webhook_object: str, public: bool) -> Channel:
    """The channel of a Meta webhook event: `webhook_object` is the body's `object` ("page", "instagram",
    "whatsapp_business_account"); `public` says whether the event is a comment rather than a message."""
    for c in CHANNELS:
        if c.webhook_object == webhook_object and c.public == public:
            return c
    raise KeyError(f"no {'public' if public else 'private'} channel for Meta webhook object {webhook_object!r}")
