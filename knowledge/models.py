"""Database tables of the knowledge base.

A *service* is one self-serve page on the council's site that the bot can point a resident to. A
*redirect* is another body (NHS, police, GOV.UK…) that the bot sends residents to for things the council
doesn't do. *Council* holds the one row of council-wide details (name, phone, opening hours, crisis lines).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import declarative_base

# SQLAlchemy 1.4 (pinned by Rasa 3.6) has no `mapped_column`; classic `Column` declarations move to 2.0 as is.
Base: Any = declarative_base()  # SQLAlchemy 1.4 ships no type information: models are untyped to mypy


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Council(Base):
    """Council-wide details; exactly one row (id 1)."""

    __tablename__ = "council"
    id = Column(Integer, primary_key=True)
    name = Column(String(200))
    site = Column(String(500))
    phone = Column(String(50))
    opening_hours = Column(String(200))
    out_of_hours_social_care = Column(String(50))
    emergency = Column(String(20))
    samaritans = Column(String(20))
    allowed_domains = Column(JSON, default=list)
    updated_at = Column(DateTime, default=_now, onupdate=_now)


class Service(Base):
    """A council service with its self-serve page. `key` is stable (e.g. `bins.missed`) and names the
    intent `svc_bins_missed`; everything residents read comes from the other columns."""

    __tablename__ = "services"
    id = Column(Integer, primary_key=True)
    key = Column(String(100), unique=True, index=True)
    title = Column(String(200))
    url = Column(String(500))
    summary = Column(Text)
    what_you_need = Column(JSON, default=list)
    phone = Column(String(50))
    eligibility = Column(Text, nullable=True)  # who can use it
    cost = Column(Text, nullable=True)  # what it costs ("Free", "£30 including delivery")
    timing = Column(Text, nullable=True)  # when: opening hours, how long it takes, deadlines
    synonyms = Column(JSON, default=list)
    # Questions residents ask, written by editors: a message like one of them reaches this service on the
    # next message, without retraining (knowledge/catalogue/examples.py); the next training learns them.
    examples = Column(JSON, default=list)
    category = Column(String(100), index=True)
    owner = Column(String(200))
    review_by = Column(Date)
    always_human = Column(Boolean, default=False)
    active = Column(Boolean, default=True, server_default="1")
    # Bumped by every publish: an editor's form carries the version it started from, so a second editor
    # saving the same service is told instead of silently overwriting the first.
    version = Column(Integer, nullable=False, default=1, server_default="1")
    updated_at = Column(DateTime, default=_now, onupdate=_now, server_default=func.current_timestamp())


class Redirect(Base):
    """Another body the council sends residents to. `to_name` reads naturally after "contact"."""

    __tablename__ = "redirects"
    id = Column(Integer, primary_key=True)
    key = Column(String(100), unique=True, index=True)
    to_name = Column(String(300))
    url = Column(String(500), nullable=True)
    phone = Column(String(50), nullable=True)
    summary = Column(Text)
    synonyms = Column(JSON, default=list)
    updated_at = Column(DateTime, default=_now, onupdate=_now, server_default=func.current_timestamp())


def as_dict(row: Any) -> dict:
    """Column values of a row, for export and comparison."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


# --- Conversations on the social channels --------------------------------------------------------------------
# The Rasa tracker store holds what was said; these tables hold what the channels need around it: who the
# resident is on which platform, which deliveries were already handled, what they attached, what we sent.


class Conversation(Base):
    """One resident on one channel. `id` is namespaced by channel (`messenger:<psid>`, `x:<user id>`) and is
    the Rasa sender id. `origin` is "public" for comments and mentions, "private" for messages. `reply_to`
    is the latest public post to answer under (comment or tweet id); `last_inbound_at` starts the platform's
    24-hour messaging window. `access_token_hash` is the SHA-256 of the owner token that REST and web chat
    callers must present (knowledge/delivery/access.py); platform conversations have none: their webhooks are signed."""

    __tablename__ = "conversations"
    id = Column(String(200), primary_key=True)
    channel = Column(String(40), nullable=False, index=True)
    origin = Column(String(10), nullable=False)
    platform_user_id = Column(String(200), nullable=False)
    account_id = Column(String(200), nullable=True)
    reply_to = Column(String(200), nullable=True)
    last_inbound_at = Column(DateTime, nullable=True)
    access_token_hash = Column(String(64), nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False)
    updated_at = Column(DateTime, default=_now, onupdate=_now, nullable=False)
    # --- WhatsApp after 24 hours (issue 12; migration 0014) ---
    # When the approved template inviting the resident back was last queued for this conversation. Staff
    # replies sent while it is newer than `last_inbound_at` wait for the resident's answer rather than send a
    # second template; cleared when the platform refuses the template, so the next reply may try again.
    invited_at = Column(DateTime, nullable=True)


class InboundEvent(Base):
    """A platform delivery we have accepted: the dedupe record and the work queue in one. `delivery_key`
    (`<channel>:<platform message id>`) is unique, so a retried or replayed delivery is refused by the
    database itself. `event` holds the normalised message until it is answered, then is cleared: the
    tracker store keeps the conversation, this table only remembers that the id was seen.

    `status` is pending, processing (the bot is working on it), done (answered: its replies, if any, were
    written to `outbound_messages` in the same transaction, so the bot never runs for it again) or failed
    (retried at `next_attempt_at` until `attempts` runs out). A processing row is held by `claimed_by` (the
    replica's stable name, e.g. host:port) and `claim_token` (that process's incarnation) until
    `lease_until`, which the holder keeps renewing; once the lease lapses, or the same replica restarts with
    a new token, another worker may take it over. Rows older than the retention period are purged."""

    __tablename__ = "inbound_events"
    id = Column(Integer, primary_key=True)
    delivery_key = Column(String(300), nullable=False, unique=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    status = Column(String(20), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    event = Column(JSON, nullable=True)
    received_at = Column(DateTime, default=_now, nullable=False, index=True)
    processed_at = Column(DateTime, nullable=True)
    next_attempt_at = Column(DateTime, nullable=True)
    claimed_by = Column(String(200), nullable=True)
    claim_token = Column(String(40), nullable=True)
    lease_until = Column(DateTime, nullable=True)


class Attachment(Base):
    """A photo, location or other file a resident sent, kept as a reference (the platform's URL or media id,
    or coordinates), never downloaded. `kind` is image, location, video, audio, file or sticker."""

    __tablename__ = "attachments"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    kind = Column(String(20), nullable=False)
    url = Column(Text, nullable=True)
    media_id = Column(String(300), nullable=True)
    mime_type = Column(String(100), nullable=True)
    latitude = Column(Float, nullable=True)
    longitude = Column(Float, nullable=True)
    supported = Column(Boolean, nullable=False, default=True)
    received_at = Column(DateTime, default=_now, nullable=False)


class OutboundMessage(Base):
    """One message to a resident through a platform: the durable outbound queue and the record of how the
    send went. `kind` is message, public_reply or private_reply.

    A row is written before anything is sent (for a bot answer, in the same transaction that marks the
    inbound event done; `inbound_event_id` is that event, `seq` its place among that answer's messages;
    `case_message_id` is the staff line on a case it carries). Rows of one conversation go out in `id`
    order, one at a time. `status`: pending (waiting for its turn or for `next_attempt_at` after a
    429/5xx/network error), sending (held by `claimed_by`/`claim_token` until `lease_until`), sent,
    failed (refused by the platform, or still failing at `give_up_at`), unknown (the request may have
    reached the platform but no answer came: never resent blindly, shown to staff) or outside_window
    (the messaging window closed at `window_ends_at` before it could go: nothing sent). `text`, `buttons`
    and `target` (the resident's platform id, our account id and the post to answer under) are what is
    needed to send; they are cleared once the row is final, since the tracker store keeps the bot's
    words. `error` is a short description and `error_code` the platform's code, never message content.

    WhatsApp after 24 hours (issue 12): `kind` template is the approved template inviting the resident back
    (`text` holds its name, `target["language"]` its language code); a staff reply waiting for the resident
    to answer it has status awaiting_resident (not sent, not blocking the queue) until their next message
    makes it pending again, or failed if the platform refuses the template."""

    __tablename__ = "outbound_messages"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    kind = Column(String(20), nullable=False)
    status = Column(String(20), nullable=False, index=True)
    platform_message_id = Column(String(300), nullable=True)
    error = Column(String(300), nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False)
    inbound_event_id = Column(Integer, nullable=True, index=True)
    case_message_id = Column(Integer, nullable=True)
    seq = Column(Integer, nullable=False, default=0)
    text = Column(Text, nullable=True)
    buttons = Column(JSON, nullable=True)
    target = Column(JSON, nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=True)
    window_ends_at = Column(DateTime, nullable=True)
    give_up_at = Column(DateTime, nullable=True)
    error_code = Column(String(80), nullable=True)
    claimed_by = Column(String(200), nullable=True)
    claim_token = Column(String(40), nullable=True)
    lease_until = Column(DateTime, nullable=True)
    finished_at = Column(DateTime, nullable=True)


# --- Staff and handover cases --------------------------------------------------------------------------------


class StaffUser(Base):
    """Someone who signs in to the console. `role` is agent, editor or admin. `password_hash` is a
    self-describing scrypt string (knowledge/staff.py); `failed_logins` and `locked_until` implement lockout."""

    __tablename__ = "staff_users"
    id = Column(Integer, primary_key=True)
    username = Column(String(100), unique=True, nullable=False)
    display_name = Column(String(200), nullable=False)
    role = Column(String(20), nullable=False)
    password_hash = Column(String(300), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime, nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False)
    last_login_at = Column(DateTime, nullable=True)


class StaffSession(Base):
    """A signed-in browser. Only a hash of the cookie's token is stored, so a copy of the database can't be
    used to sign in; `csrf_token` must accompany every form post of this session."""

    __tablename__ = "staff_sessions"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), unique=True, nullable=False)
    user_id = Column(Integer, nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, default=_now, nullable=False)
    expires_at = Column(DateTime, nullable=False)


class Case(Base):
    """A conversation handed to staff. `reference` (NC-2026-000123) is what the resident quotes.
    `reason`: asked, repeated_fallback, crisis, safeguarding, complaint, topic. `priority`: urgent or normal.
    `status`: new, assigned, waiting (on the resident), resolved. While a case is open (not resolved) and
    active within the idle limit, the bot stays silent in `conversation_id`. `sla_due_at` comes from
    business hours; `satisfaction` is the resident's 1-5 answer after resolve (`satisfaction_asked_at` set
    when asked)."""

    __tablename__ = "cases"
    id = Column(Integer, primary_key=True)
    reference = Column(String(30), unique=True, nullable=False)
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    origin = Column(String(10), nullable=False, default="private")
    reason = Column(String(30), nullable=False)
    priority = Column(String(10), nullable=False)
    status = Column(String(20), nullable=False, index=True)
    assignee_id = Column(Integer, nullable=True, index=True)
    topic = Column(String(200), nullable=True)
    tags = Column(JSON, default=list)
    outcome = Column(String(40), nullable=True)
    outcome_note = Column(Text, nullable=True)
    satisfaction = Column(Integer, nullable=True)
    satisfaction_asked_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False)
    first_response_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True)
    sla_due_at = Column(DateTime, nullable=False)
    last_activity_at = Column(DateTime, default=_now, nullable=False)
    version = Column(Integer, nullable=False, default=1)


class CaseMessage(Base):
    """One line of a case's timeline. `author`: resident, bot, staff, note (internal, never sent) or system.
    `meta` keeps what the bot understood for a resident line (intent, confidence) and the links a bot line
    sent. Staff lines carry `client_nonce` (unique per case) so a double-submitted form sends once, and
    `delivery` (pending, sent, failed, outside_window, queued for web chat)."""

    __tablename__ = "case_messages"
    __table_args__ = (UniqueConstraint("case_id", "client_nonce", name="uq_case_messages_nonce"),)
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, nullable=False, index=True)
    author = Column(String(20), nullable=False)
    staff_id = Column(Integer, nullable=True)
    text = Column(Text, nullable=False, default="")
    meta = Column(JSON, default=dict)
    client_nonce = Column(String(64), nullable=True)
    delivery = Column(String(20), nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False)


class CaseAudit(Base):
    """Every change to a case: who (`actor`: a username, "bot" or "resident"), when, what (`action` and its
    `detail`)."""

    __tablename__ = "case_audit"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, nullable=False, index=True)
    actor = Column(String(100), nullable=False)
    action = Column(String(40), nullable=False)
    detail = Column(JSON, default=dict)
    at = Column(DateTime, default=_now, nullable=False)


class ReferenceCounter(Base):
    """The last case number issued in a year; incremented under a row lock so references never repeat."""

    __tablename__ = "reference_counters"
    year = Column(Integer, primary_key=True, autoincrement=False)
    last = Column(Integer, nullable=False, default=0)


# --- Editing the knowledge base ------------------------------------------------------------------------------


class ContentVersion(Base):
    """One publish: who (`author`), when, why (`reason`), a one-line `summary` of what changed, and
    `snapshot`, the whole published knowledge base after it (council, services, redirects) as plain JSON.
    Diffs compare snapshots; a rollback publishes an old snapshot again as a new version."""

    __tablename__ = "content_versions"
    id = Column(Integer, primary_key=True)
    number = Column(Integer, unique=True, nullable=False)
    author = Column(String(100), nullable=False)
    reason = Column(Text, nullable=False)
    summary = Column(Text, nullable=False)
    snapshot = Column(JSON, nullable=False)
    created_at = Column(DateTime, default=_now, nullable=False)


class ServiceDraft(Base):
    """An editor's unpublished changes to one service (or a new one): never read by the bot. `base_version`
    is the service's version when the draft started (0 for a new service)."""

    __tablename__ = "service_drafts"
    __table_args__ = (UniqueConstraint("service_key", "author", name="uq_service_drafts_key_author"),)
    id = Column(Integer, primary_key=True)
    service_key = Column(String(100), nullable=False, index=True)
    author = Column(String(100), nullable=False)
    data = Column(JSON, nullable=False)
    base_version = Column(Integer, nullable=False, default=0)
    updated_at = Column(DateTime, default=_now, onupdate=_now, nullable=False)


class Notice(Base):
    """A time-limited announcement shown with the answers for `service_keys` between `starts_at` and
    `ends_at` (naive UTC), optionally only for one `area` (a postcode district like NB1, or a ward name).
    "Gritters are out tonight from 6pm on priority routes." Ending a notice early sets `ends_at`."""

    __tablename__ = "notices"
    id = Column(Integer, primary_key=True)
    title = Column(String(120), nullable=False)
    body = Column(Text, nullable=False)
    service_keys = Column(JSON, nullable=False, default=list)
    area = Column(String(60), nullable=True)
    starts_at = Column(DateTime, nullable=False, index=True)
    ends_at = Column(DateTime, nullable=False, index=True)
    created_by = Column(String(100), nullable=False)
    created_at = Column(DateTime, default=_now, nullable=False)
    updated_at = Column(DateTime, default=_now, onupdate=_now, nullable=False)


class UnansweredQuestion(Base):
    """Something a resident asked that the bot couldn't answer well. `kind`: fallback (no confident
    intent), low_confidence (answered, but unsure) or handover (passed to a person for want of an answer).
    `conversation` is a one-way hash, not the id; `exported_at` is set when offered as training data."""

    __tablename__ = "unanswered_questions"
    id = Column(Integer, primary_key=True)
    text = Column(Text, nullable=False)
    kind = Column(String(20), nullable=False)
    intent = Column(String(100), nullable=True)
    confidence = Column(Float, nullable=True)
    channel = Column(String(40), nullable=True)
    conversation = Column(String(60), nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False, index=True)
    exported_at = Column(DateTime, nullable=True)


class LinkCheck(Base):
    """The latest check of one service's link. `outcome`: ok, redirect (ends somewhere else), gone (404 or
    410), error (other status or network problem) or timeout; `final_url` where redirects led."""

    __tablename__ = "link_checks"
    id = Column(Integer, primary_key=True)
    service_key = Column(String(100), nullable=False, index=True)
    url = Column(String(500), nullable=False)
    outcome = Column(String(20), nullable=False)
    status_code = Column(Integer, nullable=True)
    final_url = Column(String(500), nullable=True)
    detail = Column(String(300), nullable=True)
    checked_at = Column(DateTime, default=_now, nullable=False)


# Case caps count a channel's cases in the last hour on every handover: an index keeps that cheap.
Index("ix_cases_channel_created", Case.channel, Case.created_at)


class CaseRefusal(Base):
    """A handover the case caps turned away (the resident was given the phone number instead). `cap`:
    sender_day (the conversation already opened CASES_PER_SENDER_PER_DAY cases in 24 hours) or
    channel_hour (the channel opened CASES_PER_CHANNEL_PER_HOUR in the last hour). `conversation` is a
    one-way hash, not the id; `reason` is the handover reason that was asked for."""

    __tablename__ = "case_refusals"
    id = Column(Integer, primary_key=True)
    conversation = Column(String(60), nullable=False)
    channel = Column(String(40), nullable=False)
    reason = Column(String(30), nullable=False)
    cap = Column(String(20), nullable=False)
    at = Column(DateTime, default=_now, nullable=False, index=True)


# --- Residents' data -----------------------------------------------------------------------------------------


class PrivacyAudit(Base):
    """One thing done to residents' data on request or by schedule, so the council can show it was done.
    `action`: erase, export (a subject access request) or retention (the scheduled clear-out). `actor`: who
    ran it (a login name, or "retention job"). `identifier_kind`: how the resident was named (conversation,
    reference, email or phone; none for retention). Never the identifier itself: `subject_hash` is a slow
    one-way hash of it, so a later request about the same person can be matched to this line, but the line
    can't be turned back into a phone number. `counts`: rows per table erased, exported or expired."""

    __tablename__ = "privacy_audit"
    id = Column(Integer, primary_key=True)
    action = Column(String(20), nullable=False)
    actor = Column(String(100), nullable=False)
    identifier_kind = Column(String(20), nullable=True)
    subject_hash = Column(String(64), nullable=True, index=True)
    counts = Column(JSON, nullable=False, default=dict)
    at = Column(DateTime, default=_now, nullable=False, index=True)


# --- Contact back: a way to reach the resident after the platform's window (issue 12) -------------------------


class CaseContact(Base):
    """Another way back to the resident of one case, offered when the reply will come after their
    platform's messaging window closes or out of hours. Used only for this case and deleted with it (any
    table with `case_id` goes with the case's messages under retention and erasure).

    `state`: where the offer stands: "open" (offered, the next messages are read for a contact), "retry"
    (one message looked like a contact but wasn't; asked again once), "done" (a contact was given, or the
    second attempt failed too: no more asking). `email`: an address as given (syntax checked only);
    `phone`: a valid UK number in E.164 form (+447700900123). Either may be empty."""

    __tablename__ = "case_contacts"
    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, nullable=False, unique=True, index=True)
    state = Column(String(10), nullable=False, default="open")
    email = Column(String(320), nullable=True)
    phone = Column(String(20), nullable=True)
    offered_at = Column(DateTime, default=_now, nullable=False)
    given_at = Column(DateTime, nullable=True)


# --- X polling (issue 12, item 5) ------------------------------------------------------------------------------


class XPollCursor(Base):
    """How far the X poller has read one of the council account's timelines. `endpoint` is mentions or
    dms; `last_id` the newest X id (a post id, a DM event id) already taken into the inbound queue, or None
    when the poller has started on this timeline but it was empty (then everything found next is new). No
    row: the poller has never run for this account, so it records where the timeline stands and answers
    only what comes after. Written in the same transaction as the `inbound_events` it enqueued, so a crash
    can neither skip nor repeat a mention. Holds no resident's data: ids of posts, and our own account's id."""

    __tablename__ = "x_poll_cursors"
    __table_args__ = (UniqueConstraint("account_id", "endpoint", name="uq_x_poll_cursors_account_endpoint"),)
    id = Column(Integer, primary_key=True)
    account_id = Column(String(200), nullable=False)
    endpoint = Column(String(20), nullable=False)
    last_id = Column(String(40), nullable=True)
    updated_at = Column(DateTime, default=_now, nullable=False)


class PollLease(Base):
    """Which process may poll a platform now (`name`, e.g. x-poll), so that several Rasa replicas poll once
    between them, not once each. Held by `claimed_by` (replica name) and `claim_token` (that process's
    incarnation) until `lease_until`; the holder renews it while it lives, as with `inbound_events` claims
    (knowledge/delivery/claims.py)."""

    __tablename__ = "poll_leases"
    name = Column(String(60), primary_key=True)
    claimed_by = Column(String(200), nullable=True)
    claim_token = Column(String(40), nullable=True)
    lease_until = Column(DateTime, nullable=True)


# --- Reports (issue 13) ----------------------------------------------------------------------------------------
# A problem residents reported in the chat, the residents who hear back about it, its status history, and the
# drafts of reports still being asked about. See knowledge/reports/.


class Report(Base):
    """One problem at one place: a pothole, a street light, fly-tipping… (`category`, a key of
    knowledge/reports/categories.py). `reference` (NC-2026-000123, from the same sequence as cases) is what
    residents quote. `status` (knowledge/reports/statuses.py): open, investigating, action_scheduled,
    in_progress, fixed, no_further_action, not_councils_responsibility, duplicate, closed.

    Where: `street`, `house_number`, `postcode`, `ward` from the gazetteer, `latitude`/`longitude` the point
    sent to Open311 (the resident's pin, or the gazetteer's point for the postcode), `address` the one line
    sent as `address_string`. `description` is what the resident said about it; `details` the category's
    answers ({"dangerous": "Yes"}). `conversation_id` is the resident who filed it (others join through
    `report_residents`).

    Sending to the back office over Open311: `send_state` is held (no endpoint configured: the report waits
    in the console's queue), queued (to send; `next_attempt_at` after a failure), sending (claimed by
    `claimed_by`/`claim_token` until `lease_until`), sent (`open311_id` is the back office's id), rejected
    (the server refused it: `send_error` says why, staff see it) or uncertain (a POST whose answer was lost:
    checked against the server before any second POST, so the report is never filed twice)."""

    __tablename__ = "reports"
    id = Column(Integer, primary_key=True)
    reference = Column(String(30), unique=True, nullable=False)
    category = Column(String(40), nullable=False, index=True)
    status = Column(String(30), nullable=False, index=True, default="open")
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    street = Column(String(120), nullable=True)
    house_number = Column(String(20), nullable=True)
    postcode = Column(String(10), nullable=True)
    ward = Column(String(60), nullable=True, index=True)
    address = Column(String(300), nullable=True)
    latitude = Column(Float, nullable=True)
    longitude = Column(Float, nullable=True)
    description = Column(Text, nullable=True)
    details = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime, default=_now, nullable=False, index=True)
    updated_at = Column(DateTime, default=_now, onupdate=_now, nullable=False)
    status_changed_at = Column(DateTime, default=_now, nullable=False)
    open311_service_code = Column(String(100), nullable=True)
    open311_id = Column(String(100), nullable=True, index=True)
    send_state = Column(String(20), nullable=False, index=True, default="held")
    send_attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=True)
    claimed_by = Column(String(200), nullable=True)
    claim_token = Column(String(40), nullable=True)
    lease_until = Column(DateTime, nullable=True)
    send_error = Column(Text, nullable=True)
    sent_at = Column(DateTime, nullable=True)


class ReportResident(Base):
    """A resident who hears back about a report: the one who filed it (`how` = filed) and everyone who said
    "yes, that's the one" when offered it (`how` = joined). One row per conversation per report."""

    __tablename__ = "report_residents"
    __table_args__ = (UniqueConstraint("report_id", "conversation_id", name="uq_report_residents_conversation"),)
    id = Column(Integer, primary_key=True)
    report_id = Column(Integer, nullable=False, index=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    how = Column(String(10), nullable=False, default="filed")
    joined_at = Column(DateTime, default=_now, nullable=False)


class ReportUpdate(Base):
    """One change in a report's status history: `status` (the new one), `note` (the back office's or staff
    member's public words, if any), `source` (staff, open311 or bot), `actor` (the staff username; None for
    the others), `open311_update_id` (the servicerequestupdates id, so a polled update is recorded once)."""

    __tablename__ = "report_updates"
    __table_args__ = (UniqueConstraint("report_id", "open311_update_id", name="uq_report_updates_open311"),)
    id = Column(Integer, primary_key=True)
    report_id = Column(Integer, nullable=False, index=True)
    status = Column(String(30), nullable=False)
    note = Column(Text, nullable=True)
    source = Column(String(20), nullable=False)
    actor = Column(String(100), nullable=True)
    open311_update_id = Column(String(100), nullable=True)
    at = Column(DateTime, default=_now, nullable=False)


class ReportNotification(Base):
    """Telling one resident about one status change, once. `state`: waiting (quiet hours or the send is not
    yet planned: `due_at` says when), queued (an outbound message, `outbound_message_id`), emailed (to the
    contact the resident left), unreachable (outside the platform's rules and no other contact: `detail`
    says why, and the console shows it), failed."""

    __tablename__ = "report_notifications"
    __table_args__ = (UniqueConstraint("update_id", "resident_id", name="uq_report_notifications_once"),)
    id = Column(Integer, primary_key=True)
    update_id = Column(Integer, nullable=False, index=True)
    resident_id = Column(Integer, nullable=False, index=True)
    state = Column(String(20), nullable=False, index=True)
    due_at = Column(DateTime, nullable=True, index=True)
    outbound_message_id = Column(Integer, nullable=True)
    detail = Column(Text, nullable=True)
    created_at = Column(DateTime, default=_now, nullable=False)
    done_at = Column(DateTime, nullable=True)


class ReportPhoto(Base):
    """A photo the resident sent with a report: a row of `attachments` (the platform's URL or media id, or a
    web chat upload)."""

    __tablename__ = "report_photos"
    __table_args__ = (UniqueConstraint("report_id", "attachment_id", name="uq_report_photos_once"),)
    id = Column(Integer, primary_key=True)
    report_id = Column(Integer, nullable=False, index=True)
    attachment_id = Column(Integer, nullable=False, index=True)


class ReportDraft(Base):
    """A report still being asked about, one per conversation: `category` and what the resident has given so
    far (`answers`: place, detail, photo attachment ids, description…). Kept when the resident drifts off so
    the report can be resumed later (until `updated_at` is older than the drafts' time limit). `filed_report_id`
    is set in the same transaction that files it, so a repeated "yes" can never file a second report."""

    __tablename__ = "report_drafts"
    conversation_id = Column(String(200), primary_key=True)
    channel = Column(String(40), nullable=False)
    category = Column(String(40), nullable=False)
    answers = Column(JSON, nullable=False, default=dict)
    started_at = Column(DateTime, default=_now, nullable=False)
    updated_at = Column(DateTime, default=_now, nullable=False)
    filed_report_id = Column(Integer, nullable=True)


class SyncCursor(Base):
    """How far a poller of another system has read (`name`, e.g. open311-updates): `value` is that system's
    own cursor (a time or an id), stored in the same transaction as what was read."""

    __tablename__ = "sync_cursors"
    name = Column(String(60), primary_key=True)
    value = Column(String(100), nullable=True)
    updated_at = Column(DateTime, default=_now, nullable=False)
