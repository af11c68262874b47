"""Every setting the bot reads, in one place: its environment variable, type, default and meaning.

Values come from the environment, then from a `.env` file in the project root (read once per process; the
environment wins, so a deployment's variables override a developer's file). `settings()` parses them into one
typed, frozen `Settings`; a value that isn't what the setting needs stops with an error naming the variable,
rather than a limit silently off. `.env.example` lists the same variables for people.

Every module takes its settings from here: nothing else reads `os.environ` for our own settings. (Processes
we start are still given variables in their environment; that is how a setting reaches a child process.)
The parsed result is kept and reused while the variables are unchanged, so reading a setting is cheap and a
test that changes a variable sees the new value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = Path(__file__).resolve().parent / "content"
ENV_FILE = PROJECT_ROOT / ".env"
WEBCHAT_STAFF_NAME_STYLES = ("first_name", "team")  # WEBCHAT_STAFF_NAME: a staff member's first name, or the team


# How the X channel receives mentions and DMs (X_MODE).
X_MODES = ("webhook", "polling")


class SettingError(ValueError):
    """A setting's value can't be used; the message names the variable and says what it must be."""


def _setting(
    env: str, default: Any, doc: str, *, minimum: float = 0, maximum: Optional[float] = None, what: str = ""
) -> Any:
    """A settings field read from variable `env` (`default` when unset or empty). Numbers must be at least
    `minimum` (and at most `maximum`); `what` words the rule in the error ("a whole number of days")."""
    return field(
        default=default, metadata={"env": env, "doc": doc, "minimum": minimum, "maximum": maximum, "what": what}
    )


@dataclass(frozen=True)
class Settings:
    """The bot's configuration. Unset paths and URLs are filled in from `var_dir` (embedded defaults:
    SQLite files under var/, Rasa's in-memory lock store, one process each)."""

    # --- Files and stores ------------------------------------------------------------------------------------
    var_dir: Path = _setting(
        "COUNCILBOT_VAR_DIR", PROJECT_ROOT / "var", "SQLite databases, logs, run files and keys made on first use"
    )
    models_dir: Path = _setting("COUNCILBOT_MODELS_DIR", PROJECT_ROOT / "models", "trained Rasa models")
    database_url: str = _setting("DATABASE_URL", "", "knowledge base, any SQLAlchemy URL (default SQLite under var/)")
    tracker_store_url: str = _setting(
        "TRACKER_STORE_URL", "", "Rasa's conversation history, any SQLAlchemy URL (default SQLite under var/)"
    )
    redis_url: Optional[str] = _setting(
        "REDIS_URL",
        None,
        "Redis for the lock store and shared rate-limit "
        "counters, needed when several Rasa replicas share one tracker store",
    )
    pseudonym_key: Optional[str] = _setting(
        "PSEUDONYM_KEY",
        None,
        "secret for the keyed hashes naming conversations in logs (unset: made once in var/pseudonym.key)",
    )

    # --- Servers -----------------------------------------------------------------------------------------------
    host: str = _setting("COUNCILBOT_HOST", "127.0.0.1", "address every server listens on")
    rasa_port: int = _setting("RASA_PORT", 5005, "Rasa server (the channels' webhooks)", minimum=1, maximum=65535)
    action_port: int = _setting("ACTION_SERVER_PORT", 5055, "action server", minimum=1, maximum=65535)
    console_port: int = _setting("CONSOLE_PORT", 5010, "staff console", minimum=1, maximum=65535)
    log_level: str = _setting("LOG_LEVEL", "INFO", "DEBUG makes Rasa log message text: never in production")
    rasa_url: Optional[str] = _setting(
        "RASA_URL", None, "where the console reaches the Rasa server (default http://COUNCILBOT_HOST:RASA_PORT)"
    )
    internal_token: Optional[str] = _setting(
        "COUNCILBOT_INTERNAL_TOKEN",
        None,
        "secret for the Rasa server's internal routes (parse, model swap); `councilbot run` makes one",
    )
    replica_id: Optional[str] = _setting(
        "COUNCILBOT_REPLICA_ID",
        None,
        "this process's name among replicas, unique per live process and the same after a restart",
    )

    # --- Channels ----------------------------------------------------------------------------------------------
    meta_app_secret: Optional[str] = _setting("META_APP_SECRET", None, "checks X-Hub-Signature-256 on webhooks")
    meta_verify_token: Optional[str] = _setting(
        "META_VERIFY_TOKEN", None, "our answer to Meta's subscription handshake"
    )
    meta_page_token: Optional[str] = _setting(
        "META_PAGE_ACCESS_TOKEN", None, "sends as the page and its Instagram account"
    )
    whatsapp_token: Optional[str] = _setting(
        "WHATSAPP_ACCESS_TOKEN", None, "sends WhatsApp messages (default: the page token)"
    )
    meta_graph_url: str = _setting("META_GRAPH_URL", "https://graph.facebook.com/v21.0", "Graph API base URL")
    x_consumer_secret: Optional[str] = _setting(
        "X_CONSUMER_SECRET", None, "X app's API secret: CRC answers and webhook signatures"
    )
    x_access_token: Optional[str] = _setting(
        "X_ACCESS_TOKEN", None, "OAuth 2.0 user-context token of the council's X account"
    )
    x_api_url: str = _setting("X_API_URL", "https://api.x.com", "X API base URL")

    # --- WhatsApp after 24 hours: the approved template that invites a resident back (issue 12) ----------------
    whatsapp_reply_template: str = _setting(
        "WHATSAPP_REPLY_TEMPLATE",
        "",
        "name of the council's approved WhatsApp template inviting a resident back, sent when staff reply more "
        "than 24 hours after the resident's last message (empty: none, such replies are not sent)",
    )
    whatsapp_template_language: str = _setting(
        "WHATSAPP_TEMPLATE_LANGUAGE", "en_GB", "language code the template was approved in (Meta's, like en_GB)"
    )
    # --- (end of the WhatsApp template block) ---------------------------------------------------------------------

    # --- X polling (issue 12, item 5): the pay-per-use API has no webhook, so the bot asks instead -------------
    x_mode: str = _setting(
        "X_MODE",
        "webhook",
        "webhook (Account Activity API, enterprise tier) or polling (mentions and DMs fetched every X_POLL_SECONDS)",
    )
    x_poll_seconds: float = _setting(
        "X_POLL_SECONDS",
        60.0,
        "polling mode: how often mentions and DMs are fetched; a resident waits up to this long for an answer",
        minimum=5,
    )
    platform_api_timeout_seconds: float = _setting(
        "PLATFORM_API_TIMEOUT_SECONDS",
        10.0,
        "wait for a platform API's answer; a send that times out is 'unknown', not resent",
    )
    channel_dedupe_retention_days: float = _setting(
        "CHANNEL_DEDUPE_RETENTION_DAYS",
        7.0,
        "how long platform message ids are remembered, so retries are answered once",
    )
    outbound_retry_base_seconds: float = _setting(
        "OUTBOUND_RETRY_BASE_SECONDS", 5.0, "first wait between tries of a reply the platform refused or never received"
    )
    outbound_retry_max_seconds: float = _setting("OUTBOUND_RETRY_MAX_SECONDS", 300.0, "longest wait between tries")
    outbound_retry_hours: float = _setting(
        "OUTBOUND_RETRY_HOURS", 24.0, "longest a reply is retried where the platform has no messaging window"
    )
    channel_claim_lease_seconds: float = _setting(
        "CHANNEL_CLAIM_LEASE_SECONDS", 30.0, "how long a process's claim on a message lasts without its heartbeat"
    )

    # --- Floods (0 switches a limit off) -----------------------------------------------------------------------
    rate_limit_per_sender_per_minute: int = _setting(
        "RATE_LIMIT_PER_SENDER_PER_MINUTE", 20, "messages a minute from one conversation"
    )
    rate_limit_per_address_per_minute: int = _setting(
        "RATE_LIMIT_PER_ADDRESS_PER_MINUTE", 60, "messages a minute from one address (REST, web chat)"
    )
    rate_limit_new_conversations_per_address_per_hour: int = _setting(
        "RATE_LIMIT_NEW_CONVERSATIONS_PER_ADDRESS_PER_HOUR", 20, "different conversations an hour from one address"
    )
    rate_limit_per_channel_per_minute: int = _setting(
        "RATE_LIMIT_PER_CHANNEL_PER_MINUTE", 3000, "messages a minute on one channel, everyone together"
    )
    rate_limit_polls_per_address_per_minute: int = _setting(
        "RATE_LIMIT_POLLS_PER_ADDRESS_PER_MINUTE", 600, "polls for staff replies a minute from one address"
    )
    trusted_proxy_count: int = _setting(
        "TRUSTED_PROXY_COUNT",
        0,
        "reverse proxies in front of Rasa that append X-Forwarded-For (0: the header is ignored)",
    )
    cases_per_sender_per_day: int = _setting(
        "CASES_PER_SENDER_PER_DAY",
        3,
        "new cases one conversation may open in 24 hours (0: no cap; urgent cases always open)",
    )
    cases_per_channel_per_hour: int = _setting(
        "CASES_PER_CHANNEL_PER_HOUR",
        60,
        "new cases one channel may open in an hour (0: no cap; urgent cases always open)",
    )

    # --- Staff console and cases -------------------------------------------------------------------------------
    console_insecure_cookies: bool = _setting(
        "CONSOLE_INSECURE_COOKIES",
        False,
        "cookies without Secure: only for plain http on loopback (`councilbot run` sets it)",
    )
    console_trusted_proxies: int = _setting(
        "CONSOLE_TRUSTED_PROXIES", 0, "proxies in front of the console adding X-Forwarded-For (0: ignored)", maximum=10
    )
    business_hours: str = _setting("BUSINESS_HOURS", "Mon-Fri 09:00-17:00", "when staff answer cases")
    business_timezone: str = _setting(
        "BUSINESS_TIMEZONE", "Europe/London", "time zone of the business hours and of every time shown to staff"
    )
    bank_holidays: str = _setting("BANK_HOLIDAYS", "", "closed days, like 2026-12-25,2026-12-28")
    sla_urgent_hours: float = _setting(
        "SLA_URGENT_HOURS", 1.0, "open hours to a first reply for crisis and safeguarding"
    )
    sla_normal_hours: float = _setting("SLA_NORMAL_HOURS", 16.0, "open hours to a first reply (two working days)")
    case_idle_hours: float = _setting(
        "CASE_IDLE_HOURS", 72.0, "after this long without activity on an open case the bot answers again (0: never)"
    )

    # --- Content editors ---------------------------------------------------------------------------------------
    link_check_hours: float = _setting(
        "LINK_CHECK_HOURS", 24.0, "the console checks every service's link this often (0: never)"
    )
    link_check_first_delay_seconds: float = _setting(
        "LINK_CHECK_FIRST_DELAY_SECONDS", 300.0, "first check this long after the console starts"
    )
    link_check_timeout_seconds: float = _setting(
        "LINK_CHECK_TIMEOUT_SECONDS", 10.0, "wait for one link's answer", minimum=0.001
    )

    # --- Places (issue 13) ---------------------------------------------------------------------------------------
    gazetteer_path: Path = _setting(
        "GAZETTEER_PATH",
        CONTENT_DIR / "places" / "gazetteer.csv",
        "the council's streets and postcodes (CSV: ward, house numbers, map point, bin day, gritting route)",
    )
    place_pin_max_metres: float = _setting(
        "PLACE_PIN_MAX_METRES",
        400.0,
        "a shared location pin further than this from every street in the gazetteer is refused (a pin in the sea)",
        minimum=1,
    )
    # --- (end of the Places block) ------------------------------------------------------------------------------

    # --- Residents' data (days; 0 keeps that kind for ever) ----------------------------------------------------
    retention_transcript_days: int = _setting(
        "RETENTION_TRANSCRIPT_DAYS",
        183,
        "conversations, tracker events, attachments, messages of resolved cases",
        what="a whole number of days (0 keeps for ever)",
    )
    retention_case_days: int = _setting(
        "RETENTION_CASE_DAYS",
        1096,
        "cases, counted from when they were resolved",
        what="a whole number of days (0 keeps for ever)",
    )
    retention_unanswered_days: int = _setting(
        "RETENTION_UNANSWERED_DAYS",
        90,
        "questions the bot couldn't answer",
        what="a whole number of days (0 keeps for ever)",
    )
    retention_hours: float = _setting(
        "RETENTION_HOURS", 24.0, "the console deletes what is past its period this often (0: never)"
    )
    retention_first_delay_seconds: float = _setting(
        "RETENTION_FIRST_DELAY_SECONDS", 600.0, "first run this long after the console starts"
    )

    # --- Replies by email (issue 12: a way back to the resident after the platform's window) -----------------
    smtp_host: Optional[str] = _setting(
        "SMTP_HOST", None, "mail server for staff replies by email (empty: no replies by email)"
    )
    smtp_port: int = _setting(
        "SMTP_PORT", 587, "mail server port (587 with STARTTLS, 25 plain)", minimum=1, maximum=65535
    )
    smtp_username: Optional[str] = _setting("SMTP_USERNAME", None, "sign-in name at the mail server (empty: none)")
    smtp_password: Optional[str] = _setting("SMTP_PASSWORD", None, "its password; a secret, never logged")
    smtp_from: Optional[str] = _setting(
        "SMTP_FROM", None, "From address of replies by email, like Northshire Council <contact@northshire.gov.uk>"
    )
    smtp_starttls: bool = _setting("SMTP_STARTTLS", True, "1: upgrade the connection with STARTTLS before signing in")
    smtp_timeout_seconds: float = _setting(
        "SMTP_TIMEOUT_SECONDS", 20.0, "how long to wait for the mail server", minimum=1
    )

    # --- Web chat (issue 12: a web chat that remembers) ----------------------------------------------------------
    webchat_staff_name: str = _setting(
        "WEBCHAT_STAFF_NAME",
        "first_name",
        'how staff replies are signed in the web chat: first_name ("Casey (Customer Services)") or team',
    )
    webchat_team_name: str = _setting(
        "WEBCHAT_TEAM_NAME", "Customer Services", "the team named on staff replies in the web chat"
    )
    webchat_photo_max_bytes: int = _setting(
        "WEBCHAT_PHOTO_MAX_BYTES",
        10 * 1024 * 1024,
        "largest photo a resident may attach in the web chat, in bytes",
        minimum=1024,
        maximum=100 * 1024 * 1024,
    )

    # --- Web chat photos and history: limits (issue 12 review, findings 1, 3, 8) -------------------------------
    webchat_uploads_dir: str = _setting(
        "WEBCHAT_UPLOADS_DIR", "", "where web chat photos are kept (empty: <var dir>/uploads); may be its own volume"
    )
    webchat_photos_per_conversation: int = _setting(
        "WEBCHAT_PHOTOS_PER_CONVERSATION", 20, "most photos one web chat conversation may keep", minimum=1
    )
    webchat_photos_per_day: int = _setting(
        "WEBCHAT_PHOTOS_PER_DAY", 2000, "most web chat photos the whole service keeps in one day (UTC)", minimum=1
    )
    webchat_uploads_min_free_bytes: int = _setting(
        "WEBCHAT_UPLOADS_MIN_FREE_BYTES",
        1024 * 1024 * 1024,
        "photos are refused while the uploads folder's disk has less free space than this, in bytes",
    )
    webchat_history_per_address_per_minute: int = _setting(
        "WEBCHAT_HISTORY_PER_ADDRESS_PER_MINUTE", 10, "web chat history reads an address may make a minute (0: off)"
    )
    webchat_history_idle_days: float = _setting(
        "WEBCHAT_HISTORY_IDLE_DAYS",
        30.0,
        "a web chat idle longer than this is not shown again: a shared device forgets it",
        minimum=0.01,
    )

    # --- Reports (issue 13) -----------------------------------------------------------------------------------
    report_draft_days: float = _setting(
        "REPORT_DRAFT_DAYS", 7.0, "a report left half way can be taken up again for this many days", minimum=0.01
    )
    report_duplicate_metres: float = _setting(
        "REPORT_DUPLICATE_METRES", 50.0, "open reports of the same kind this close are offered before filing another"
    )
    report_quiet_hours: str = _setting(
        "REPORT_QUIET_HOURS",
        "21:00-08:00",
        "no report updates are sent to residents between these local times (BUSINESS_TIMEZONE; empty: none)",
    )
    open311_endpoint: Optional[str] = _setting(
        "OPEN311_ENDPOINT",
        None,
        "GeoReport v2 base URL, like https://open311.example.gov.uk/v2/ (empty: reports wait in the console)",
    )
    open311_api_key: Optional[str] = _setting("OPEN311_API_KEY", None, "the Open311 server's API key; a secret")
    open311_jurisdiction: Optional[str] = _setting(
        "OPEN311_JURISDICTION", None, "jurisdiction_id sent with every Open311 request (empty: none)"
    )
    open311_timeout_seconds: float = _setting(
        "OPEN311_TIMEOUT_SECONDS", 30.0, "how long to wait for the Open311 server's answer", minimum=1
    )
    open311_service_codes: str = _setting(
        "OPEN311_SERVICE_CODES",
        "",
        "report category to Open311 service code, like pothole=PH,street_light=SL (unlisted: the category key)",
    )
    open311_poll_seconds: float = _setting(
        "OPEN311_POLL_SECONDS", 300.0, "how often status changes are fetched from the Open311 server", minimum=10
    )
    # --- (end of the Reports block) ------------------------------------------------------------------------------

    def __post_init__(self) -> None:
        # The embedded defaults live under var_dir, which is itself a setting.
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.var_dir / 'knowledge.db'}")
        if not self.tracker_store_url:
            object.__setattr__(self, "tracker_store_url", f"sqlite:///{self.var_dir / 'tracker.db'}")
        object.__setattr__(self, "log_level", self.log_level.upper())
        # Web chat: a staff name style that isn't one of the two would sign every reply oddly; stop instead.
        if self.webchat_staff_name not in WEBCHAT_STAFF_NAME_STYLES:
            raise SettingError(f"WEBCHAT_STAFF_NAME must be first_name or team, not {self.webchat_staff_name!r}")

        # X polling (issue 12, item 5): a misspelt mode must not quietly leave X unanswered.
        object.__setattr__(self, "x_mode", self.x_mode.lower())
        if self.x_mode not in X_MODES:
            raise SettingError(f"X_MODE must be one of {', '.join(X_MODES)}, not {self.x_mode!r}")

    @classmethod
    def from_env(cls) -> Settings:
        """The settings in force now (same as `settings()`)."""
        return settings()

    @classmethod
    def from_values(cls, values: Mapping[str, Optional[str]]) -> Settings:
        """Settings from variable name -> text (unset or blank: the default). Raises SettingError."""
        parsed: dict[str, Any] = {}
        for f in fields(cls):
            raw = (values.get(f.metadata["env"]) or "").strip()
            if raw:
                parsed[f.name] = _parse(f, raw)
        return cls(**parsed)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (tests and tools run servers on other ports)."""
        return dataclasses.replace(self, **changes)


def _parse(f: dataclasses.Field, raw: str) -> Any:
    meta, kind = f.metadata, str(f.type)
    name = meta["env"]
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingError(f"{name} must be 1 or 0, not {raw!r}")
    if kind in ("int", "float"):
        whole = kind == "int"
        what = meta["what"] or ("a whole number" if whole else "a number")
        if not meta["what"]:
            low, high = meta["minimum"], meta["maximum"]
            what += (
                f" from {low:g} to {high:g}"
                if high is not None
                else (", 0 or more" if low == 0 else f", at least {low:g}")
            )
        try:
            # isdigit alone lets '²' through to int(), which then fails; only plain ASCII digits are a number.
            if whole and not (raw.isascii() and raw.isdigit()):
                raise ValueError(raw)
            value = int(raw) if whole else float(raw)
        except ValueError:
            raise SettingError(f"{name} must be {what}, not {raw!r}") from None
        if value != value or value < meta["minimum"] or (meta["maximum"] is not None and value > meta["maximum"]):
            raise SettingError(f"{name} must be {what}, not {raw!r}")
        return value
    if kind == "Path":
        return Path(raw)
    return raw


def variables() -> list[str]:
    """Every variable name a setting reads, in declaration order."""
    return [f.metadata["env"] for f in fields(Settings)]


_NAMES = tuple(variables())
_file_values: dict[Path, dict[str, Optional[str]]] = {}
_cached: Optional[tuple[tuple, Settings]] = None


def _dotenv(path: Path) -> dict[str, Optional[str]]:
    """The `.env` file's values, read once per process (no file: none)."""
    if path not in _file_values:
        _file_values[path] = dict(dotenv_values(path)) if path.is_file() else {}
    return _file_values[path]


def settings(env_file: Optional[Path] = None) -> Settings:
    """The settings in force: the environment over `.env`. Parsed once while the variables stay the same."""
    global _cached
    file_values = _dotenv(env_file or ENV_FILE)
    key = (env_file, tuple(os.environ.get(name) for name in _NAMES))
    if _cached is not None and _cached[0] == key:
        return _cached[1]
    merged = {name: os.environ.get(name) or file_values.get(name) for name in _NAMES}
    result = Settings.from_values(merged)
    _cached = (key, result)
    return result


def var_dir() -> Path:
    """Where embedded defaults keep their files (SQLite databases, logs), made if missing."""
    path = settings().var_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """SQLAlchemy URL of the knowledge base: `DATABASE_URL`, or a SQLite file under `var/`."""
    s = settings()
    if s.database_url == f"sqlite:///{s.var_dir / 'knowledge.db'}":
        var_dir()  # the embedded default: its folder must exist before SQLAlchemy opens the file
    return s.database_url


def case_caps() -> tuple[int, int]:
    """(cases one conversation may open in 24 hours, cases one channel may open in an hour); 0 means no cap.
    Urgent cases (crisis, safeguarding) are opened whatever the caps say."""
    s = settings()
    return s.cases_per_sender_per_day, s.cases_per_channel_per_hour


# How long residents' data is kept (README "Residents' data"), by variable, as the retention job names them.
RETENTION_SETTINGS = {
    "RETENTION_TRANSCRIPT_DAYS": "retention_transcript_days",
    "RETENTION_CASE_DAYS": "retention_case_days",
    "RETENTION_UNANSWERED_DAYS": "retention_unanswered_days",
}


def retention_days(name: str) -> int:
    """One of RETENTION_SETTINGS: a whole number of days, 0 meaning keep for ever."""
    return int(getattr(settings(), RETENTION_SETTINGS[name]))
