"""Every sentence a resident sees in the report conversation, and in "what's happening with NC-…": plain
English, short enough for a phone. Buttons are (title, payload) pairs; a payload is the words the resident
would type ("Yes", "place"), except where a button starts a new topic ("/svc_roads_pothole").

Sentences about places that can't be found (not a postcode, another council's postcode, a pin in the sea)
come from knowledge/places/replies.py: one home for those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Optional
from zoneinfo import ZoneInfo

from knowledge.answers import Reply
from knowledge.models import Report
from knowledge.reports import statuses
from knowledge.reports.categories import CATEGORIES, Category
from knowledge.reports.conversation import intent_for, the, title
from knowledge.settings import settings

# How the summary names each category's answer ("Dangerous: Yes").
DETAIL_LABELS = {
    "dangerous": "Dangerous",
    "fault": "Fault",
    "size": "How much",
    "offensive": "Offensive",
    "where": "Where",
    "registration": "Number plate",
    "bin": "Bin",
    "when": "When",
}

# "Where is the missed bin?" reads oddly: these categories ask in their own words.
WHERE_QUESTIONS = {
    "missed_bin": "What's the address of the missed bin?",
    "noise": "Where is the noise coming from?",
}

YES_NO = [{"title": "Yes", "payload": "Yes"}, {"title": "No", "payload": "No"}]
RESUME_PAYLOAD = "/report_resume"


def _buttons(options: Sequence[str]) -> list[dict[str, str]]:
    return [{"title": o, "payload": o} for o in options]


def _local(at: dt.datetime) -> dt.datetime:
    """A naive UTC time from the database, in the council's time zone."""
    try:
        zone = ZoneInfo(settings().business_timezone)
    except (ValueError, KeyError):
        zone = ZoneInfo("Europe/London")
    return at.replace(tzinfo=dt.UTC).astimezone(zone)


def day_words(at: dt.datetime, now: dt.datetime) -> str:
    """When something happened, as a resident would say it: "today", "yesterday", "on Tuesday" (this past
    week), else "on 3 November". Both times naive UTC."""
    day, today = _local(at).date(), _local(now).date()
    days = (today - day).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"on {day:%A}"
    return f"on {day.day} {day:%B}"


def online_line(url: Optional[str], phone: Optional[str] = None) -> str:
    """The self-serve alternatives, carried by the first question of a report: the web form, and the phone
    number for a resident who would rather talk to someone."""
    if url and phone:
        return f"Or report it online: {url} or call {phone}"
    if url:
        return f"Or report it online: {url}"
    return f"Or call {phone}" if phone else ""


def so_far(category: Category, answers: dict[str, Any]) -> Optional[str]:
    """What the resident's first message already told us, said back so they can see it was understood
    ("Got it: a missed bin (recycling bin) at 3 Oak Lane, NS2 1AB."); None when it told us nothing more."""
    detail, address = answers.get("detail"), answers.get("address")
    if not detail and not address:
        return None
    what = category.name
    if detail and category.detail_key == "bin":
        what += f" ({str(detail).lower()} bin)"
    elif detail:
        what += f" ({DETAIL_LABELS.get(category.detail_key, 'details').lower()}: {detail})"
    return f"Got it: {what}" + (f" at {address}." if address else ".")


def ask_where(category: Category) -> Reply:
    """Where is it? (first question: with the online link)."""
    question = WHERE_QUESTIONS.get(category.key) or f"Where is {the(category)}?"
    how = "Send the postcode, or the street and house number, or share your location."
    return Reply(text=f"{question} {how}")


def which_place(addresses: Sequence[str]) -> Reply:
    """The resident's words match more than one street."""
    return Reply(
        text="That matches more than one place. Which one is it?",
        buttons=[{"title": a, "payload": a} for a in addresses[:5]],
    )


def how_to_stop() -> str:
    """Added when an answer couldn't be used, so nobody is stuck in a report they no longer want."""
    return 'Or say "stop" to leave the report for now.'


def pin_not_read() -> str:
    """A shared location whose coordinates weren't kept (the platform sent none)."""
    return "Sorry, I couldn't read that location. Send it again, or send the postcode or street instead."


def photo_noted() -> str:
    """A photo arrived before the resident was asked for one."""
    return "Thanks for the photo, I've added it to your report."


def offer_nearby(category: Category, report: Report, now: dt.datetime) -> Reply:
    """Someone else already reported this nearby: is it the same one?"""
    # The street only: a house number would tell anyone who types streets in turn where other residents
    # live (their missed bin, their neighbour's noise).
    near = report.street or "there"
    text = (
        f"Someone has already reported {category.name} near there. "
        f"Is it this one, reported {day_words(report.created_at, now)} near {near}?"
    )
    return Reply(
        text=text,
        buttons=[{"title": "Yes, that's it", "payload": "Yes"}, {"title": "No, it's different", "payload": "No"}],
    )


def yes_or_no() -> str:
    return "Please answer yes or no."


def joined(report: Report) -> Reply:
    """The resident chose an existing report instead of filing another."""
    return Reply(
        text=(
            f"Thanks. I've added you to report {report.reference}, so we'll tell you when anything changes. "
            f"Quote {report.reference} if you contact us about it."
        )
    )


def already_on(report: Report) -> Reply:
    return Reply(text=f"You're already on report {report.reference}. We'll tell you when anything changes.")


def ask_detail(category: Category) -> Reply:
    """The category's own question, with its answers as buttons."""
    return Reply(text=category.detail_question, buttons=_buttons(category.detail_options))


def detail_not_understood(category: Category) -> str:
    options = list(category.detail_options)
    if len(options) > 1:
        listed = ", ".join(options[:-1]) + f" or {options[-1]}"
        return f"Sorry, I didn't get that. Please choose {listed}."
    return "Sorry, I didn't get that. Please tell me in a few words."


def ask_photo() -> Reply:
    return Reply(
        text="If you have a photo of it, send it now. If not, say skip.",
        buttons=[{"title": "Skip", "payload": "skip"}],
    )


def photo_not_understood() -> str:
    return "Send a photo, or say skip if you don't have one."


def summary(category: Category, answers: dict[str, Any]) -> Reply:
    """Read the report back before anything is sent."""
    lines = ["Here's your report:", f"{title(category)} at {answers.get('address') or 'the place you shared'}"]
    if answers.get("detail"):
        lines.append(f"{DETAIL_LABELS.get(category.detail_key, 'Details')}: {answers['detail']}")
    photos = len(answers.get("photo_ids") or [])
    if photos:
        lines.append("Photo: " + ("1 added" if photos == 1 else f"{photos} added"))
    lines.append("Shall I send it to the council?")
    return Reply(
        text="\n".join(lines),
        buttons=[{"title": "Yes, send it", "payload": "Yes"}, {"title": "No", "payload": "No"}],
    )


def confirm_not_understood() -> str:
    return "Say yes to send your report, or no to change something."


def ask_change() -> Reply:
    """After "no" at the summary: nothing has been sent."""
    return Reply(
        text="OK, I haven't sent anything. What would you like to change?",
        buttons=[
            {"title": "The place", "payload": "place"},
            {"title": "The details", "payload": "details"},
            {"title": "The photo", "payload": "photo"},
            {"title": "Cancel the report", "payload": "cancel"},
        ],
    )


def change_not_understood() -> str:
    return "Choose the place, the details or the photo to change, or cancel the report."


def filed(report: Report, first_time: bool = True) -> Reply:
    """The report was filed: its reference, and what happens next."""
    if not first_time:
        return Reply(text=f"You've already sent this report. Your reference is {report.reference}.")
    return Reply(
        text=(
            f"Thanks, I've sent your report. Your reference is {report.reference}.\n"
            f"We'll message you here when its status changes. To check on it, ask me "
            f'"what\'s happening with {report.reference}?"'
        )
    )


def not_filed(phone: Optional[str]) -> Reply:
    """Filing failed (the database, say): nothing was sent, and the draft is kept. The report form has ended
    by then, so a bare "yes" would only get "anything else?": the button resumes the report, whose summary
    asks again."""
    call = f", or call us on {phone}" if phone else ""
    return Reply(
        text=f"Sorry, I couldn't send your report just now. I've kept it: choose \"Try again\"{call}.",
        buttons=[{"title": "Try again", "payload": RESUME_PAYLOAD}],
    )


def stopped() -> Reply:
    """The resident left the report half way: the draft is kept."""
    return Reply(
        text="OK, I've stopped. I've kept what you told me, so say \"carry on with my report\" to finish it later.",
        buttons=[{"title": "Carry on with my report", "payload": RESUME_PAYLOAD}],
    )


def cancelled() -> Reply:
    """The resident cancelled at the summary: the draft is gone and nothing was sent."""
    return Reply(text="OK, I've cancelled that report. Nothing was sent.")


def offer_resume(category: Category, answers: dict[str, Any]) -> Reply:
    """The resident starts the same kind of report again while one is half done."""
    at = f" at {answers['street']}" if answers.get("street") else ""
    return Reply(
        text=f"You started reporting {category.name}{at}. Shall we carry on?",
        buttons=[{"title": "Yes, carry on", "payload": "Yes"}, {"title": "No, start again", "payload": "No"}],
    )


def carrying_on(category: Category) -> str:
    return f"OK, let's carry on with your report of {category.name}."


def nothing_to_resume() -> Reply:
    return Reply(text=f"You don't have a report in progress. {_what_to_report()}", buttons=category_buttons())


def _what_to_report() -> str:
    return 'Tell me what you\'d like to report, like "pothole" or "fly-tipping".'


def category_buttons() -> list[dict[str, str]]:
    """One button per reportable problem: choosing one starts that report."""
    return [{"title": title(c), "payload": f"/{intent_for(c)}"} for c in CATEGORIES]


def pin_what_to_report() -> Reply:
    """A location pin arrived outside a report."""
    return Reply(
        text="Thanks, I've kept the location. What would you like to report there?", buttons=category_buttons()
    )


def photo_what_to_report() -> Reply:
    """A photo arrived outside a report."""
    return Reply(text="Thanks, I've kept the photo. What would you like to report?", buttons=category_buttons())


def public_invite() -> str:
    """Added to the signposting answer in a public comment or mention: the report itself is taken privately,
    so no one's address is posted in public."""
    return "Or send us a private message and I can take the report there."


# --- "What's happening with NC-…" ----------------------------------------------------------------------


def progress(report: Report, now: dt.datetime) -> Reply:
    """Where a report the resident is on has got to."""
    category = next((c for c in CATEGORIES if c.key == report.category), None)
    what = title(category) if category else "Report"
    where = f" at {report.street}" if report.street else ""
    try:
        status = statuses.resident_words(report.status)
    except KeyError:
        status = "We're dealing with it."
    changed = report.status_changed_at or report.created_at
    lines = [
        f"{report.reference}: {what}{where}, reported {day_words(report.created_at, now)}.",
        status,
    ]
    if changed and report.created_at and changed > report.created_at:
        lines.append(f"Last update {day_words(changed, now)}.")
    return Reply(text="\n".join(lines))


def case_progress(reference: str, resolved_at: Optional[dt.datetime], now: dt.datetime) -> Reply:
    """The reference is the resident's enquiry with staff (a case), not a report."""
    if resolved_at is not None:
        return Reply(
            text=(
                f"{reference} is your enquiry with our team. It was closed {day_words(resolved_at, now)}. "
                "If you still need help, tell me what you need, or ask for a person."
            )
        )
    return Reply(text=f"{reference} is your enquiry with our team. They'll reply to you here.")


def progress_in_public() -> str:
    """Asked about a report in a public comment: its place is never told in public."""
    return "I can't share a report's details here. Send us a private message with your reference and I'll tell you."


def unknown_reference(phone: Optional[str]) -> Reply:
    """For a reference that doesn't exist and for someone else's report alike: never a hint of whose."""
    call = f" If you need help, call us on {phone}." if phone else ""
    return Reply(text=f"I can't find that reference in this conversation. Check it looks like NC-2026-000123.{call}")


def which_report(reports: Sequence[Report], now: dt.datetime) -> Reply:
    """The resident asked about "my report" without a reference: the ones in this conversation."""
    if not reports:
        return Reply(
            text=(
                "I can't find a report from you in this conversation. If you have a reference, send it to me. "
                "It looks like NC-2026-000123."
            )
        )
    if len(reports) == 1:
        return progress(reports[0], now)
    return Reply(
        text="Which report do you mean?",
        buttons=[{"title": r.reference, "payload": f"what's happening with {r.reference}"} for r in reports[:5]],
    )
