"""Channel settings, from environment variables only (.env.example lists them). Secrets never in files.

A channel with required settings missing stays mounted but answers 503, and its log says which variable
names are unset (never their values), so `make run` works with no platform configured.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Optional

from bot.platforms.api import ApiClient
from knowledge.settings import whole_number

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
DEFAULT_X_API_URL = "https://api.x.com"


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name, "").strip()
    return value or None


def retention() -> dt.timedelta:
    """How long delivery ids are remembered for exactly-once (CHANNEL_DEDUPE_RETENTION_DAYS, default 7)."""
    return dt.timedelta(days=float(_env("CHANNEL_DEDUPE_RETENTION_DAYS") or 7))


def api_timeout() -> float:
    """Seconds to wait for a platform API's answer (PLATFORM_API_TIMEOUT_SECONDS, default 10). A send that
    times out is recorded as "unknown", not resent: the platform may have delivered it."""
    return float(_env("PLATFORM_API_TIMEOUT_SECONDS") or 10)


@dataclass(frozen=True)
class DeliveryConfig:
    """How replies are retried and how in-flight work is shared between processes.

    `retry_base`/`retry_max`: the first and the longest wait between tries of a failed send (doubling, with
    jitter); `retry_for`: the longest a reply is retried on a channel with no messaging window (a
    platform's window ends it sooner where there is one); `lease`: how long a process's claim on a message
    lasts without renewal (a heartbeat renews it while the process works); `replica`: this process's
    stable name among the bot's replicas, the same after a restart (default host:port), so a restarted
    process takes back its own unfinished work at once instead of waiting for the lease to lapse."""

    retry_base: dt.timedelta
    retry_max: dt.timedelta
    retry_for: dt.timedelta
    lease: dt.timedelta
    replica: Optional[str]

    @classmethod
    def from_env(cls) -> "DeliveryConfig":
        return cls(retry_base=dt.timedelta(seconds=float(_env("OUTBOUND_RETRY_BASE_SECONDS") or 5)),
                   retry_max=dt.timedelta(seconds=float(_env("OUTBOUND_RETRY_MAX_SECONDS") or 300)),
                   retry_for=dt.timedelta(hours=float(_env("OUTBOUND_RETRY_HOURS") or 24)),
                   lease=dt.timedelta(seconds=float(_env("CHANNEL_CLAIM_LEASE_SECONDS") or 30)),
                   replica=_env("COUNCILBOT_REPLICA_ID"))

    def replica_for(self, port: Optional[int], role: str = "") -> str:
        """The replica name: COUNCILBOT_REPLICA_ID, else this host and port; `role` keeps two kinds of
        process on one host (the Rasa server, the console) from ever sharing a name."""
        base = self.replica or f"{socket.gethostname()}:{port if port else os.getpid()}"
        return f"{base}/{role}" if role else base


@dataclass(frozen=True)
class MetaConfig:
    """One Meta app: `app_secret` signs its webhooks; `verify_token` is our answer to its subscription
    handshake; `page_token` sends as the Facebook page and its linked Instagram account; `whatsapp_token`
    sends WhatsApp messages (defaults to the page token when one system-user token covers both)."""

    app_secret: Optional[str]
    verify_token: Optional[str]
    page_token: Optional[str]
    whatsapp_token: Optional[str]
    graph_url: str

    REQUIRED = ("META_APP_SECRET", "META_VERIFY_TOKEN", "META_PAGE_ACCESS_TOKEN")

    @classmethod
    def from_env(cls) -> "MetaConfig":
        return cls(app_secret=_env("META_APP_SECRET"), verify_token=_env("META_VERIFY_TOKEN"),
                   page_token=_env("META_PAGE_ACCESS_TOKEN"),
                   whatsapp_token=_env("WHATSAPP_ACCESS_TOKEN") or _env("META_PAGE_ACCESS_TOKEN"),
                   graph_url=_env("META_GRAPH_URL") or DEFAULT_GRAPH_URL)

    def missing(self) -> list[str]:
        values = (self.app_secret, self.verify_token, self.page_token)
        return [name for name, value in zip(self.REQUIRED, values) if not value]

    def graph(self) -> ApiClient:
        return ApiClient("graph", self.graph_url, self.page_token or "", timeout=api_timeout())

    def whatsapp(self) -> ApiClient:
        return ApiClient("whatsapp", self.graph_url, self.whatsapp_token or "", timeout=api_timeout())


@dataclass(frozen=True)
class XConfig:
    """One X app and account: `consumer_secret` (the app's API secret) answers CRC checks and signs
    webhooks; `access_token` is an OAuth 2.0 user-context token of the council's account with
    tweet.write and dm.write."""

    consumer_secret: Optional[str]
    access_token: Optional[str]
    api_url: str

    REQUIRED = ("X_CONSUMER_SECRET", "X_ACCESS_TOKEN")

    @classmethod
    def from_env(cls) -> "XConfig":
        return cls(consumer_secret=_env("X_CONSUMER_SECRET"), access_token=_env("X_ACCESS_TOKEN"),
                   api_url=_env("X_API_URL") or DEFAULT_X_API_URL)

    def missing(self) -> list[str]:
        return [name for name, value in zip(self.REQUIRED, (self.consumer_secret, self.access_token)) if not value]

    def api(self) -> ApiClient:
        return ApiClient("x", self.api_url, self.access_token or "", timeout=api_timeout())


@dataclass(frozen=True)
class RateLimits:
    """How much may reach the bot before it asks people to slow down (0: no limit of that kind).

    `per_sender`: messages a minute from one conversation; `per_address`: messages a minute from one
    network address (REST and web chat callers); `new_conversations_per_address`: different conversations
    an hour from one address; `per_channel`: messages a minute on one channel, all residents together;
    `polls_per_address`: polls for staff replies a minute from one address (a web chat page polls every
    few seconds, so this is counted apart from messages).
    `trusted_proxies`: how many reverse proxies in front of the Rasa server append to X-Forwarded-For
    (0: the header is ignored). `redis_url`: shared counters for several replicas (else in memory)."""

    per_sender: int = 20
    per_address: int = 60
    new_conversations_per_address: int = 20
    per_channel: int = 3000
    polls_per_address: int = 600
    trusted_proxies: int = 0
    redis_url: Optional[str] = None

    @classmethod
    def from_env(cls) -> "RateLimits":
        # A bad value stops the server at start, naming the variable, rather than running unprotected.
        return cls(per_sender=whole_number("RATE_LIMIT_PER_SENDER_PER_MINUTE", cls.per_sender),
                   per_address=whole_number("RATE_LIMIT_PER_ADDRESS_PER_MINUTE", cls.per_address),
                   new_conversations_per_address=whole_number("RATE_LIMIT_NEW_CONVERSATIONS_PER_ADDRESS_PER_HOUR",
                                                              cls.new_conversations_per_address),
                   per_channel=whole_number("RATE_LIMIT_PER_CHANNEL_PER_MINUTE", cls.per_channel),
                   polls_per_address=whole_number("RATE_LIMIT_POLLS_PER_ADDRESS_PER_MINUTE", cls.polls_per_address),
                   trusted_proxies=whole_number("TRUSTED_PROXY_COUNT", cls.trusted_proxies),
                   redis_url=_env("REDIS_URL"))

    @property
    def enabled(self) -> bool:
        return any((self.per_sender, self.per_address, self.new_conversations_per_address, self.per_channel))

    def describe(self) -> str:
        """The limits in words for the start-up log (no URL: it may hold a password)."""
        return (f"{self.per_sender}/min per sender, {self.per_address}/min per address, "
                f"{self.new_conversations_per_address} new conversations/hour per address, "
                f"{self.per_channel}/min per channel, {self.trusted_proxies} trusted proxies")


# Every rate limit off: for benchmarks and tests that measure or exercise something else from one address.
NO_RATE_LIMITS = {"RATE_LIMIT_PER_SENDER_PER_MINUTE": "0", "RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "0",
                  "RATE_LIMIT_NEW_CONVERSATIONS_PER_ADDRESS_PER_HOUR": "0", "RATE_LIMIT_PER_CHANNEL_PER_MINUTE": "0",
                  "RATE_LIMIT_POLLS_PER_ADDRESS_PER_MINUTE": "0"}
