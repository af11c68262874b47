"""Staff accounts and signed-in sessions of the console: the data layer, with no web code.

Roles. Each account has one role: `agent` (works handover cases), `editor` (edits the knowledge base's
content) or `admin` (everything, including managing accounts). `can(role, needed)` is the one place that
decides: admin can do anything; agent and editor are separate jobs, so an editor can't work cases and an
agent can't edit content. Give someone both by making them an admin.

Passwords are stored as `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`: the parameters travel with the hash, so
they can be raised later without breaking existing accounts. The policy: at least 12 characters, not one
character repeated, not the username.

Signing in. `authenticate(session, username, password, now, trusted_address=...)` returns a
`LoginResult`: the user, or why not (`LoginRefused`). After `MAX_FAILED_LOGINS` wrong passwords in a row
the account is locked for `LOCKOUT`, but only against addresses the caller doesn't vouch for
(`trusted_address`: the console passes True for an address this account recently signed in from), so a
lock is not a way to keep the real user out; attempts while locked are refused without checking the
password and neither extend the lock nor count. Guessing from one address is stopped before it gets
here, by the console's per-address throttle (bot/console/throttle.py explains the whole design). An
unknown username costs the same scrypt work as a known one and gets the same reason as a wrong password,
so neither timing nor the reason tells an attacker which usernames exist. Callers must show one message
for every refusal (the console does).

Sessions. `start_session` returns a random cookie token and a CSRF token; the database keeps only the
SHA-256 of the cookie token, so a copy of the database can't be used to sign in. `session_for` turns a
cookie token back into (user, StaffSession) until `expires_at` (an absolute `SESSION_TTL` from sign-in: one
working day, not sliding) and only while the account is active. Disabling an account or setting its
password ends all its sessions.

Times are naive UTC datetimes, like every DateTime column in knowledge/models.py; callers pass `now`
explicitly (tests move the clock), `utcnow()` gives the current one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Optional

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.models import StaffSession, StaffUser

AGENT, EDITOR, ADMIN = "agent", "editor", "admin"
ROLES: tuple[str, ...] = (AGENT, EDITOR, ADMIN)

# Wrong passwords in a row before the account locks (for unknown addresses). High, because the console
# already throttles each address after 5: reaching 20 takes a guesser several addresses.
MAX_FAILED_LOGINS = 20
LOCKOUT = dt.timedelta(minutes=15)  # how long it stays locked
SESSION_TTL = dt.timedelta(hours=8)  # a working day; then sign in again

MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase; short enough that a huge "password" can't tie up scrypt.
MAX_PASSWORD_LENGTH = 256
USERNAME_RE = re.compile(r"[a-z0-9._-]{3,50}")
MAX_DISPLAY_NAME_LENGTH = 100

# scrypt cost: n=2**14, r=8 uses 16 MiB and ~50 ms per hash here: slow for a guesser, fine for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 64
# Stored hashes are trusted data, but a corrupted row must not be able to ask for gigabytes of memory.
_MAX_SCRYPT_N = 2**20


class StaffError(Exception):
    """Base class of this module's errors."""


class StaffInputError(StaffError):
    """A value given for an account is not acceptable; `field` names it and the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownStaffUser(StaffError):
    """No account has that username or id."""


class LoginRefused(StrEnum):
    """Why a sign-in failed. Only for logs: people must all see the same message (see module docstring)."""

    INVALID = "invalid"  # unknown username or wrong password: deliberately indistinguishable
    LOCKED = "locked"  # too many wrong passwords recently
    DISABLED = "disabled"  # an admin switched the account off


@dataclass(frozen=True)
class LoginResult:
    """Outcome of `authenticate`: `user` when signed in, else `refused` says why."""

    user: Optional[StaffUser] = None
    refused: Optional[LoginRefused] = None

    @property
    def ok(self) -> bool:
        return self.user is not None


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime the tables store."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _naive_utc(when: dt.datetime) -> dt.datetime:
    # Accept aware datetimes too, so a caller's timezone can't shift a lockout or an expiry.
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


# --- Roles -------------------------------------------------------------------------------------------------


def can(role: Optional[str], needed: str) -> bool:
    """True if someone with `role` may do what `needed` allows. Admin ⊇ editor and admin ⊇ agent; editor
    and agent are disjoint. An unknown role can do nothing."""
    if role not in ROLES or needed not in ROLES:
        return False
    return role in (needed, ADMIN)


# --- Passwords ---------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # maxmem must cover 128*n*r bytes plus slack; Python's default (32 MiB) would refuse larger n.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * n * r + 1024 * 1024
    )


def hash_password(password: str) -> str:
    """The stored form of `password`: `scrypt$16384$8$1$<salt b64>$<hash b64>` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches the `stored` hash (compared in constant time). A malformed hash is a
    mismatch, never an error, so one bad row can't break sign-in for everyone."""
    try:
        scheme, n_s, r_s, p_s, salt_s, hash_s = stored.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, expected = base64.b64decode(salt_s, validate=True), base64.b64decode(hash_s, validate=True)
    except (ValueError, AttributeError):
        return False
    if scheme != "scrypt" or not (1 < n <= _MAX_SCRYPT_N) or n & (n - 1) or not (0 < r <= 32 and 0 < p <= 16):
        return False
    if not expected or len(password) > MAX_PASSWORD_LENGTH:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no one knows the password of: checked for unknown usernames so they cost the same time."""
    return hash_password(secrets.token_urlsafe(16))


def check_password_policy(password: str, username: str) -> None:
    """Raise StaffInputError("password", why) unless `password` is acceptable for `username`."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffInputError("password", f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise StaffInputError("password", f"Password must be {MAX_PASSWORD_LENGTH} characters or fewer.")
    if len(set(password)) == 1:
        raise StaffInputError("password", "Password can't be one character repeated.")
    if password.strip().lower() == username.strip().lower():
        raise StaffInputError("password", "Password can't be the same as the username.")


# --- Accounts ----------------------------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: stored and looked up lower-case, without surrounding spaces."""
    return (username or "").strip().lower()


def _check_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise StaffInputError(
            "username", "Username must be 3 to 50 characters: letters a to z, numbers, dots, hyphens or underscores."
        )
    return name


def _check_display_name(display_name: str) -> str:
    name = " ".join((display_name or "").split())  # also turns tabs and newlines into single spaces
    if not name:
        raise StaffInputError("display_name", "Enter a display name.")
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise StaffInputError("display_name", f"Display name must be {MAX_DISPLAY_NAME_LENGTH} characters or fewer.")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise StaffInputError("display_name", "Display name can't contain control characters.")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise StaffInputError("role", f"Role must be one of: {', '.join(ROLES)}.")
    return role


def get_user(session: Session, username: str) -> Optional[StaffUser]:
    """The account called `username` (any case), or None."""
    return session.execute(
        select(StaffUser).where(StaffUser.username == normalise_username(username))
    ).scalar_one_or_none()


def get_user_by_id(session: Session, user_id: int) -> Optional[StaffUser]:
    """The account with id `user_id`, or None."""
    return session.get(StaffUser, user_id)


def list_users(session: Session) -> list[StaffUser]:
    """Every account, active or not, by username."""
    return list(session.execute(select(StaffUser).order_by(StaffUser.username)).scalars())


def create_user(
    session: Session, username: str, display_name: str, role: str, password: str, now: Optional[dt.datetime] = None
) -> StaffUser:
    """A new active account. Raises StaffInputError naming the first unacceptable field (username,
    display_name, role, password), including a username that is already taken."""
    name = _check_username(username)
    shown = _check_display_name(display_name)
    _check_role(role)
    check_password_policy(password, name)
    if get_user(session, name) is not None:
        raise StaffInputError("username", f"The username {name} is already taken.")
    user = StaffUser(
        username=name,
        display_name=shown,
        role=role,
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
        created_at=_naive_utc(now or utcnow()),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # another request took the name between our check and the insert
        raise StaffInputError("username", f"The username {name} is already taken.") from exc
    return user


def set_password(session: Session, user: StaffUser, password: str) -> None:
    """Give `user` a new password (policy-checked), clear any lockout and end all their sessions."""
    check_password_policy(password, user.username)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_all_sessions(session, user)


def set_active(session: Session, user: StaffUser, active: bool) -> None:
    """Switch `user`'s account on or off. Switching off ends their sessions at once."""
    user.active = active
    if not active:
        end_all_sessions(session, user)
    session.flush()


# --- Signing in --------------------------------------------------------------------------------------------


def authenticate(
    session: Session, username: str, password: str, now: dt.datetime, *, trusted_address: bool = False
) -> LoginResult:
    """Check a sign-in attempt at time `now` and record its effect on the lockout (see module docstring).
    `trusted_address`: the attempt comes from somewhere this account signed in from recently, so a lock
    (which exists to stop guessers elsewhere) doesn't apply to it."""
    now = _naive_utc(now)
    user = get_user(session, username) if USERNAME_RE.fullmatch(normalise_username(username)) else None
    if user is None:
        verify_password(password, _dummy_hash())
        return LoginResult(refused=LoginRefused.INVALID)
    if user.locked_until is not None and user.locked_until > now and not trusted_address:
        verify_password(password, _dummy_hash())  # same cost, and a right guess while locked learns nothing
        return LoginResult(refused=LoginRefused.LOCKED)
    if not verify_password(password, user.password_hash):
        _record_failure(session, user, now)
        return LoginResult(refused=LoginRefused.INVALID)
    if not user.active:
        return LoginResult(refused=LoginRefused.DISABLED)
    user.failed_logins = 0
    if user.locked_until is not None and user.locked_until <= now:
        user.locked_until = None  # a lock still running stays, for the guessers it was set against
    user.last_login_at = now
    session.flush()
    return LoginResult(user=user)


def _record_failure(session: Session, user: StaffUser, now: dt.datetime) -> None:
    # Counted in SQL so concurrent wrong guesses can't overwrite each other's increments.
    session.execute(
        update(StaffUser)
        .where(StaffUser.id == user.id)
        .values(failed_logins=StaffUser.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user)
    if user.failed_logins >= MAX_FAILED_LOGINS:
        # The count starts again after the lock, so the next MAX_FAILED_LOGINS guesses lock it again.
        user.locked_until = now + LOCKOUT
        user.failed_logins = 0
    session.flush()


# --- Sessions ----------------------------------------------------------------------------------------------


def token_hash(raw_token: str) -> str:
    """What the database stores for a session cookie's token (hex SHA-256)."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def start_session(
    session: Session, user: StaffUser, now: dt.datetime, ttl: dt.timedelta = SESSION_TTL
) -> tuple[str, str]:
    """Sign `user` in until `now + ttl`. Returns (raw token for the cookie, CSRF token for forms); the raw
    token is not kept anywhere, so it can't be shown again."""
    now = _naive_utc(now)
    raw, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        StaffSession(token_hash=token_hash(raw), user_id=user.id, csrf_token=csrf, created_at=now, expires_at=now + ttl)
    )
    session.flush()
    return raw, csrf


def session_for(
    session: Session, raw_token: Optional[str], now: dt.datetime
) -> Optional[tuple[StaffUser, StaffSession]]:
    """The signed-in (user, session) for a cookie's `raw_token`, or None if it is unknown, expired, or the
    account is disabled."""
    if not raw_token or len(raw_token) > 200:
        return None
    staff_session = session.execute(
        select(StaffSession).where(StaffSession.token_hash == token_hash(raw_token))
    ).scalar_one_or_none()
    if staff_session is None or staff_session.expires_at <= _naive_utc(now):
        return None
    user = session.get(StaffUser, staff_session.user_id)
    if user is None or not user.active:
        return None
    return user, staff_session


def end_session(session: Session, raw_token: Optional[str]) -> None:
    """Sign out the browser holding `raw_token` (nothing happens if it is unknown)."""
    if raw_token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash(raw_token)))


def end_all_sessions(session: Session, user: StaffUser) -> None:
    """Sign `user` out everywhere."""
    session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))


def purge_expired_sessions(session: Session, now: dt.datetime) -> int:
    """Delete sessions that ended before `now`; returns how many. Called at each sign-in to keep the
    table small; expired rows are never honoured either way."""
    result = session.execute(delete(StaffSession).where(StaffSession.expires_at <= _naive_utc(now)))
    return int(result.rowcount or 0)
