"""The channels' settings grouped for their users (values, defaults and meanings: knowledge/settings.py).

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
from knowledge.settings import Settings, settings


def retention() -> dt.timedelta:
    """How long delivery ids are remembered for exactly-once."""
    return dt.timedelta(days=settings().channel_dedupe_retention_days)


def api_timeout() -> float:
    """Seconds to wait for a platform API's answer. A send that times out is recorded as "unknown", not
    resent: the platform may have delivered it."""
    return settings().platform_api_timeout_seconds


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
    def from_env(cls) -> DeliveryConfig:
        s = settings()
        return cls(
            retry_base=dt.timedelta(seconds=s.outbound_retry_base_seconds),
            retry_max=dt.timedelta(seconds=s.outbound_retry_max_seconds),
            retry_for=dt.timedelta(hours=s.outbound_retry_hours),
            lease=dt.timedelta(seconds=s.channel_claim_lease_seconds),
            replica=s.replica_id,
        )

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
    def from_env(cls) -> MetaConfig:
        s = settings()
        return cls(
            app_secret=s.meta_app_secret,
            verify_token=s.meta_verify_token,
            page_token=s.meta_page_token,
            whatsapp_token=s.whatsapp_token or s.meta_page_token,
            graph_url=s.meta_graph_url,
        )

    def missing(self) -> list[str]:
        values = (self.app_secret, self.verify_token, self.page_token)
        return [name for name, value in zip(self.REQUIRED, values, strict=True) if not value]

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
    #: X_MODE=polling: the bot reads the timelines itself (pay-per-use API), no webhook to sign
    polling: bool = False

    REQUIRED = ("X_CONSUMER_SECRET", "X_ACCESS_TOKEN")

    @classmethod
    def from_env(cls) -> XConfig:
        s = settings()
        return cls(
            consumer_secret=s.x_consumer_secret,
            access_token=s.x_access_token,
            api_url=s.x_api_url,
            polling=s.x_mode == "polling",
        )

    def missing(self) -> list[str]:
        """The settings still needed: polling needs only the token that reads the timelines and replies."""
        if self.polling:
            return [] if self.access_token else ["X_ACCESS_TOKEN"]
        values = (self.consumer_secret, self.access_token)
        return [name for name, value in zip(self.REQUIRED, values, strict=True) if not value]

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

    # Defaults are the settings' defaults (knowledge/settings.py), so each number has one home.
    per_sender: int = Settings.rate_limit_per_sender_per_minute
    per_address: int = Settings.rate_limit_per_address_per_minute
    new_conversations_per_address: int = Settings.rate_limit_new_conversations_per_address_per_hour
    per_channel: int = Settings.rate_limit_per_channel_per_minute
    polls_per_address: int = Settings.rate_limit_polls_per_address_per_minute
    trusted_proxies: int = Settings.trusted_proxy_count
    redis_url: Optional[str] = None

    @classmethod
    def from_env(cls) -> RateLimits:
        # A bad value stops the server at start, naming the variable, rather than running unprotected.
        s = settings()
        return cls(
            per_sender=s.rate_limit_per_sender_per_minute,
            per_address=s.rate_limit_per_address_per_minute,
            new_conversations_per_address=s.rate_limit_new_conversations_per_address_per_hour,
            per_channel=s.rate_limit_per_channel_per_minute,
            polls_per_address=s.rate_limit_polls_per_address_per_minute,
            trusted_proxies=s.trusted_proxy_count,
            redis_url=s.redis_url,
        )

    @property
    def enabled(self) -> bool:
        return any((self.per_sender, self.per_address, self.new_conversations_per_address, self.per_channel))

    def describe(self) -> str:
        """The limits in words for the start-up log (no URL: it may hold a password)."""
        return (
            f"{self.per_sender}/min per sender, {self.per_address}/min per address, "
            f"{self.new_conversations_per_address} new conversations/hour per address, "
            f"{self.per_channel}/min per channel, {self.trusted_proxies} trusted proxies"
        )


# Every rate limit off: for benchmarks and tests that measure or exercise something else from one address.
NO_RATE_LIMITS = {
    "RATE_LIMIT_PER_SENDER_PER_MINUTE": "0",
    "RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "0",
    "RATE_LIMIT_NEW_CONVERSATIONS_PER_ADDRESS_PER_HOUR": "0",
    "RATE_LIMIT_PER_CHANNEL_PER_MINUTE": "0",
    "RATE_LIMIT_POLLS_PER_ADDRESS_PER_MINUTE": "0",
    "WEBCHAT_HISTORY_PER_ADDRESS_PER_MINUTE": "0",  # web chat history's own limit (webchat_memory.py)
}
