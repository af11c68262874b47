"""Staff accounts and sessions (knowledge/staff.py) against a real migrated SQLite database, with an
explicit clock."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import staff
from knowledge.db import session_scope
from knowledge.migrations import upgrade
from knowledge.models import StaffSession, StaffUser
from knowledge.staff import (
    ADMIN,
    AGENT,
    EDITOR,
    LOCKOUT,
    MAX_FAILED_LOGINS,
    SESSION_TTL,
    LoginRefused,
    StaffInputError,
    authenticate,
    can,
    create_user,
    end_session,
    hash_password,
    list_users,
    session_for,
    set_active,
    set_password,
    start_session,
    verify_password,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, 0)
PASSWORD = "correct horse battery"


@pytest.fixture
def db_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'staff.db'}"
    upgrade(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Session]:
    with session_scope(db_url) as session:
        yield session


@pytest.fixture
def alice(db: Session) -> StaffUser:
    return create_user(db, "alice", "Alice Smith", AGENT, PASSWORD, now=T0)


# --- Roles -------------------------------------------------------------------------------------------------


def test_admin_can_do_everything_and_agent_and_editor_are_separate() -> None:
    assert all(can(ADMIN, needed) for needed in (AGENT, EDITOR, ADMIN))
    assert can(AGENT, AGENT) and not can(AGENT, EDITOR) and not can(AGENT, ADMIN)
    assert can(EDITOR, EDITOR) and not can(EDITOR, AGENT) and not can(EDITOR, ADMIN)
    assert not can("root", AGENT) and not can(None, AGENT) and not can(ADMIN, "superuser")


# --- Passwords ---------------------------------------------------------------------------------------------


def test_hash_is_self_describing_scrypt_with_a_16_byte_salt_and_64_byte_hash() -> None:
    stored = hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 64
    assert PASSWORD not in stored


def test_each_hash_has_its_own_salt_and_verifies() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)


def test_wrong_password_and_malformed_hashes_do_not_verify() -> None:
    stored = hash_password(PASSWORD)
    assert not verify_password("correct horse battery!", stored)
    assert not verify_password("", stored)
    for broken in (
        "",
        "plain",
        "bcrypt$16384$8$1$AAAA$AAAA",
        stored.replace("$16384$", "$1000$"),
        stored.rsplit("$", 1)[0] + "$!!notbase64!!",
        "scrypt$1048576000$8$1$AAAA$AAAA",
    ):
        assert not verify_password(PASSWORD, broken), broken


@pytest.mark.parametrize(
    "password, username, message",
    [
        ("short pass", "alice", "at least 12 characters"),
        ("aaaaaaaaaaaaaaaa", "alice", "one character repeated"),
        ("alice.smith99", "alice.smith99", "same as the username"),
        ("Alice.Smith99", "alice.smith99", "same as the username"),
    ],
)
def test_password_policy_names_the_field_and_says_why(db: Session, password: str, username: str, message: str) -> None:
    with pytest.raises(StaffInputError) as caught:
        create_user(db, username, "Someone", AGENT, password)
    assert caught.value.field == "password"
    assert message in str(caught.value)


# --- Accounts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["ab", "a" * 51, "alice smith", "alice@council", "ålice", ""])
def test_bad_usernames_are_refused_naming_the_field(db: Session, username: str) -> None:
    with pytest.raises(StaffInputError) as caught:
        create_user(db, username, "Someone", AGENT, PASSWORD)
    assert caught.value.field == "username"


def test_usernames_are_unique_whatever_the_case(db: Session, alice: StaffUser) -> None:
    with pytest.raises(StaffInputError) as caught:
        create_user(db, "ALICE", "Another Alice", EDITOR, PASSWORD)
    assert caught.value.field == "username"
    assert "already taken" in caught.value.message


def test_role_and_display_name_are_checked(db: Session) -> None:
    with pytest.raises(StaffInputError) as caught:
        create_user(db, "bob", "Bob", "superuser", PASSWORD)
    assert caught.value.field == "role"
    with pytest.raises(StaffInputError) as caught:
        create_user(db, "bob", "   ", AGENT, PASSWORD)
    assert caught.value.field == "display_name"


def test_created_user_is_stored_normalised_and_listed(db: Session) -> None:
    user = create_user(db, "  Bob.Jones ", "  Bob\tJones ", EDITOR, PASSWORD)
    assert (user.username, user.display_name, user.role, user.active) == ("bob.jones", "Bob Jones", EDITOR, True)
    assert [u.username for u in list_users(db)] == ["bob.jones"]
    assert verify_password(PASSWORD, user.password_hash)


# --- Signing in --------------------------------------------------------------------------------------------


def test_right_password_signs_in_and_records_when(db: Session, alice: StaffUser) -> None:
    result = authenticate(db, "Alice", PASSWORD, T0)
    assert result.ok and result.user is not None and result.user.id == alice.id
    assert alice.last_login_at == T0


def test_wrong_password_and_unknown_user_get_the_same_reason(db: Session, alice: StaffUser) -> None:
    wrong = authenticate(db, "alice", "not the password", T0)
    unknown = authenticate(db, "nobody", PASSWORD, T0)
    malformed = authenticate(db, "no such user!", PASSWORD, T0)
    assert not wrong.ok and not unknown.ok and not malformed.ok
    assert wrong.refused == unknown.refused == malformed.refused == LoginRefused.INVALID


def test_unknown_user_still_costs_a_password_hash(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    staff._dummy_hash()  # made once per process; not the cost being measured
    calls = []
    real = staff._scrypt
    monkeypatch.setattr(staff, "_scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    authenticate(db, "nobody", PASSWORD, T0)
    assert calls == [1]


def test_many_failures_lock_the_account_for_fifteen_minutes(db: Session, alice: StaffUser) -> None:
    for i in range(MAX_FAILED_LOGINS):
        assert authenticate(db, "alice", f"wrong password {i}", T0).refused == LoginRefused.INVALID
    assert alice.locked_until == T0 + LOCKOUT
    # Locked: even the right password is refused, and more failures neither extend nor reveal anything.
    assert authenticate(db, "alice", PASSWORD, T0 + dt.timedelta(minutes=1)).refused == LoginRefused.LOCKED
    authenticate(db, "alice", "wrong again", T0 + dt.timedelta(minutes=14))
    assert alice.locked_until == T0 + LOCKOUT
    assert authenticate(db, "alice", PASSWORD, T0 + LOCKOUT - dt.timedelta(seconds=1)).refused == LoginRefused.LOCKED
    # Once the lock has run out, the right password works.
    assert authenticate(db, "alice", PASSWORD, T0 + LOCKOUT).ok


def test_failures_short_of_the_limit_then_success_reset_the_count(db: Session, alice: StaffUser) -> None:
    for _ in range(MAX_FAILED_LOGINS - 1):
        authenticate(db, "alice", "wrong password", T0)
    assert authenticate(db, "alice", PASSWORD, T0).ok
    assert alice.failed_logins == 0
    for _ in range(MAX_FAILED_LOGINS - 1):
        authenticate(db, "alice", "wrong password", T0)
    assert authenticate(db, "alice", PASSWORD, T0).ok  # not locked: the earlier failures were forgiven


def test_disabled_account_cannot_sign_in(db: Session, alice: StaffUser) -> None:
    set_active(db, alice, False)
    assert authenticate(db, "alice", PASSWORD, T0).refused == LoginRefused.DISABLED


def test_new_password_works_and_clears_a_lockout(db: Session, alice: StaffUser) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        authenticate(db, "alice", "wrong password", T0)
    set_password(db, alice, "a brand new passphrase")
    assert authenticate(db, "alice", "a brand new passphrase", T0).ok
    assert not authenticate(db, "alice", PASSWORD, T0).ok


# --- Sessions ----------------------------------------------------------------------------------------------


def test_session_finds_its_user_until_it_expires(db: Session, alice: StaffUser) -> None:
    raw, csrf = start_session(db, alice, T0)
    found = session_for(db, raw, T0 + SESSION_TTL - dt.timedelta(seconds=1))
    assert found is not None
    user, staff_session = found
    assert user.id == alice.id and staff_session.csrf_token == csrf
    assert session_for(db, raw, T0 + SESSION_TTL) is None
    assert session_for(db, raw + "x", T0) is None and session_for(db, "", T0) is None


def test_only_a_hash_of_the_token_is_stored(db: Session, alice: StaffUser) -> None:
    raw, csrf = start_session(db, alice, T0)
    row = db.execute(select(StaffSession)).scalar_one()
    assert row.token_hash == staff.token_hash(raw) and len(row.token_hash) == 64
    assert raw not in row.token_hash and raw != csrf
    stored = {str(v) for v in db.execute(select(StaffSession.__table__)).one()}
    assert raw not in stored


def test_ending_a_session_and_disabling_an_account_sign_out(db: Session, alice: StaffUser) -> None:
    first, _ = start_session(db, alice, T0)
    second, _ = start_session(db, alice, T0)
    end_session(db, first)
    assert session_for(db, first, T0) is None
    assert session_for(db, second, T0) is not None
    set_active(db, alice, False)
    assert session_for(db, second, T0) is None
    set_active(db, alice, True)
    assert session_for(db, second, T0) is None  # ended, not just hidden


def test_a_lock_does_not_apply_to_an_address_the_account_signed_in_from(db: Session, alice: StaffUser) -> None:
    for i in range(MAX_FAILED_LOGINS):
        authenticate(db, "alice", f"wrong password {i}", T0)
    later = T0 + dt.timedelta(minutes=1)
    assert authenticate(db, "alice", PASSWORD, later).refused == LoginRefused.LOCKED
    assert authenticate(db, "alice", PASSWORD, later, trusted_address=True).ok
    assert not authenticate(db, "alice", "still wrong", later, trusted_address=True).ok
    # The real user getting in doesn't lift the lock for the guessers it was set against.
    assert alice.locked_until == T0 + LOCKOUT
    assert authenticate(db, "alice", PASSWORD, later).refused == LoginRefused.LOCKED
