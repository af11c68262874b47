"""What the bot says, worded from the knowledge base (GOV.UK plain English, short enough for a phone).

Each function takes the rows it needs and returns a `Reply`; the actions only send them. Nothing here is
cached, so an editor's change shows on the very next message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.danger.kinds import DangerKind
from knowledge.models import Council, Redirect, Service
from knowledge.understanding.followups import Aspect
from knowledge.understanding.intents import intent_for_service, is_service_intent

# Words for bin types residents mention, as they should read in a reply.
BIN_TYPES = {
    "general": "general waste",
    "recycling": "recycling",
    "garden": "garden waste",
    "food": "food waste",
    "glass": "glass",
}


@dataclass
class Reply:
    """One message to the resident: text and optional buttons (title, payload)."""

    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    service_key: Optional[str] = None


def council(session: Session) -> Council:
    """The council's details; raises LookupError if the knowledge base was never loaded."""
    row = session.get(Council, 1)
    if row is None:
        raise LookupError("knowledge base is empty: run `councilbot kb load`")
    return row


def service(session: Session, key: str) -> Optional[Service]:
    """The active service with this key, if any."""
    return session.execute(select(Service).where(Service.key == key, Service.active.is_(True))).scalar_one_or_none()


def service_for_intent(session: Session, intent: Optional[str]) -> Optional[Service]:
    """The active service whose intent is `intent` (`svc_bins_missed` names `bins.missed`)."""
    if not is_service_intent(intent):
        return None
    keys = session.execute(select(Service.key).where(Service.active.is_(True))).scalars()
    key = next((k for k in keys if intent_for_service(k) == intent), None)
    return service(session, key) if key else None


def redirect(session: Session, key: str) -> Optional[Redirect]:
    return session.execute(select(Redirect).where(Redirect.key == key)).scalar_one_or_none()


def _call_line(c: Council, phone: Optional[str] = None) -> str:
    return f"Or call {phone or c.phone} ({c.opening_hours})."


# What a reply says when the resident asked about one aspect the editors haven't filled in yet.
_ASPECT_WORDS = {Aspect.COST: "what it costs", Aspect.ELIGIBILITY: "who can use it", Aspect.TIMING: "the times"}


def service_answer(
    c: Council,
    svc: Service,
    bin_type: Optional[str] = None,
    notices: Sequence[str] = (),
    aspect: Optional[Aspect] = None,
) -> Reply:
    """The answer to a service question: any notices in force first (gritting tonight, school closed
    today), then title and what it's for, or, when the resident asked what it costs, who can use it or
    when (`aspect`), that answer from the service's own field; then the link and the phone number."""
    title = svc.title
    if bin_type and svc.category == "bins" and bin_type.lower() in BIN_TYPES:
        title = f"{title} ({BIN_TYPES[bin_type.lower()]} bin)"
    body = f"{title}: {svc.summary}"
    if aspect is not None:
        detail = getattr(svc, aspect.value, None)
        body = (
            f"{title}: {detail.strip()}"
            if detail and detail.strip()
            else f"{title}: I don't have {_ASPECT_WORDS[aspect]} to hand. The page below has the details."
        )
    text = "\n".join([*notices, body, svc.url, _call_line(c, svc.phone)])
    return Reply(text=text, service_key=svc.key)


def redirect_answer(r: Redirect) -> Reply:
    """Send the resident to another body that can help."""
    parts = [r.summary]
    if r.url and r.url not in r.summary:
        parts.append(r.url)
    if r.phone and r.phone not in r.summary:
        parts.append(f"Call {r.phone}.")
    return Reply(text="\n".join(parts))


# Used when the knowledge base can't be read: a crisis reply must never depend on the database.
EMERGENCY, SAMARITANS = "999", "116 123"
# National lines (not the council's to change): the line each kind of danger leads with.
CHILDLINE = "0800 1111"
DOMESTIC_ABUSE_HELPLINE = "0808 2000 247"
GAS_EMERGENCY = "0800 111 999"


# The first line for each kind of danger: the number that helps most, then what to do. `{emergency}` and
# `{samaritans}` are the council's (999, 116 123); the other numbers are national.
_DANGER_LEADS = {
    DangerKind.SUICIDE: "Please talk to someone now: call Samaritans free on {samaritans}, any time, day or night. "
    "If you have hurt yourself, taken something, or might act on these thoughts, call {emergency}.",
    DangerKind.DOMESTIC_ABUSE: "If you're in danger right now, call {emergency} (if you can't speak, stay on the line "
    "and press 55). The National Domestic Abuse Helpline is free and open 24 hours: "
    f"{DOMESTIC_ABUSE_HELPLINE}.",
    DangerKind.CHILD_HARM: "If you or a child are in danger right now, call {emergency}. Any young person can talk to "
    f"Childline free, any time, on {CHILDLINE}: it won't show on the phone bill.",
    DangerKind.GAS: f"If you smell gas, call the National Gas Emergency line now on {GAS_EMERGENCY}. Don't use "
    "switches or flames, open doors and windows, and get out. If anyone feels unwell or there's a "
    "fire, call {emergency}.",
    DangerKind.FIRE: (
        "Call {emergency} now and ask for the fire service. Get everyone out, stay out, and don't go back in."
    ),
    DangerKind.WATER: "Call {emergency} now: ask for the fire service (at the coast, the coastguard). Don't go into "
    "the water: throw something that floats and keep them in sight.",
    DangerKind.COLLISION: "Call {emergency} now and ask for an ambulance and the police. Don't move anyone hurt "
    "unless they're in more danger where they are.",
    DangerKind.MEDICAL: "Call {emergency} now and ask for an ambulance. Stay with them: the call handler will tell "
    "you what to do.",
    DangerKind.VIOLENCE: "If someone is being threatened or hurt now, call {emergency} and ask for the police. Get "
    "somewhere safe first.",
}


def _danger_lines(kind: DangerKind, emergency: str, samaritans: str) -> list[str]:
    """The first lines for this kind of danger; for a kind not known, 999 and Samaritans."""
    if kind in _DANGER_LEADS:
        return [_DANGER_LEADS[kind].format(emergency=emergency, samaritans=samaritans)]
    return [
        f"If you or someone else is in danger right now, call {emergency}.",
        f"If you're struggling, you can talk to Samaritans any time, free, on {samaritans}.",
    ]


def danger_answer(c: Optional[Council], kind: DangerKind = DangerKind.UNKNOWN) -> Reply:
    """For anyone who may be in danger: the line for the kind of danger first, nothing to read before it.
    Every kind gives 999. Without the council's details (`c` None: the knowledge base can't be read) the
    national numbers still go out."""
    emergency, samaritans = (c.emergency, c.samaritans) if c else (EMERGENCY, SAMARITANS)
    lines = _danger_lines(kind, emergency, samaritans)
    if kind in (DangerKind.DOMESTIC_ABUSE, DangerKind.CHILD_HARM):
        lines.append(f"If you're struggling, you can talk to Samaritans any time, free, on {samaritans}.")
    if c is not None and kind in (
        DangerKind.UNKNOWN,
        DangerKind.SUICIDE,
        DangerKind.DOMESTIC_ABUSE,
        DangerKind.CHILD_HARM,
        DangerKind.MEDICAL,
    ):
        lines.append(f"For urgent adult or children's social care out of hours, call {c.out_of_hours_social_care}.")
    return Reply(text="\n".join(lines))


def caution_line(c: Optional[Council]) -> str:
    """Added to an ordinary answer when the danger net is uneasy but not sure: the numbers, gently."""
    emergency, samaritans = (c.emergency, c.samaritans) if c else (EMERGENCY, SAMARITANS)
    return (
        f"If you or someone else is in danger now, call {emergency}. "
        f"If things feel too much, Samaritans are there any time, free, on {samaritans}."
    )


def crisis_answer(c: Optional[Council]) -> Reply:
    """The answer for danger of a kind not known (a flood of messages, an outage): 999 and Samaritans."""
    return danger_answer(c, DangerKind.UNKNOWN)


def welsh_answer(c: Optional[Council]) -> Reply:
    """A message in Welsh: said honestly in Welsh and English that the bot answers in English only, what it
    can do, and the number to call."""
    phone = c.phone if c else "the council"
    hours = f" ({c.opening_hours})" if c else ""
    return Reply(
        text=(
            f"Diolch am eich neges. Mae'n ddrwg gennym: dim ond yn Saesneg y gall y cynorthwyydd awtomatig hwn ateb. "
            f"I siarad â ni yn Gymraeg, ffoniwch {phone}{hours}.\n"
            f"Thank you for your message. Sorry: this automated assistant can only answer in English. It can help with "
            f"bins, roads, council tax, housing, social care and other council services if you write in English. "
            f"To talk to us in Welsh, call {phone}{hours}.\n"
            f"Os ydych chi neu rywun arall mewn perygl, ffoniwch {EMERGENCY}. If anyone is in danger, call {EMERGENCY}."
        )
    )


def mentions_emergency_number(text: str, c: Optional[Council]) -> bool:
    """Does a reply already give the emergency number? (So the safety net doesn't say it twice.)"""
    return (c.emergency if c and c.emergency else EMERGENCY) in text


def unavailable_answer(c: Optional[Council]) -> str:
    """When the bot couldn't work out an answer at all (a part of it is down): never silence, always a
    person to call."""
    if c is None:
        return "Sorry, I can't answer just now. Please try again in a few minutes, or phone the council."
    return (
        f"Sorry, I can't answer just now. Please try again in a few minutes, "
        f"or call us on {c.phone} ({c.opening_hours})."
    )


def public_invite(c: Optional[Council], crisis: bool, private_word: str = "private message") -> str:
    """The only thing said in public when a comment or mention has personal details or a sensitive topic.
    Under 280 characters for X; for a crisis it still gives the emergency numbers first."""
    if crisis:
        emergency, samaritans = (c.emergency, c.samaritans) if c else (EMERGENCY, SAMARITANS)
        return (
            f"If you or someone else is in danger, call {emergency} now. You can talk to Samaritans free, "
            f"any time, on {samaritans}. We've sent you a {private_word}."
        )
    return (
        f"Thanks for getting in touch. We've sent you a {private_word}, so you don't have to share "
        f"personal details here."
    )


_KIND_WORDS = {
    "image": "photo",
    "location": "location",
    "video": "video",
    "audio": "voice message",
    "file": "file",
    "sticker": "sticker",
}


def attachment_note(supported: Sequence[str], unsupported: Sequence[str], asked_something: bool) -> Optional[str]:
    """What to say about what the resident attached. Photos and locations are kept for reports; the bot
    can't open anything else, and says so kindly. Nothing if the resident also asked a question and
    everything attached was kept (the answer to the question is enough)."""
    lines = []
    if supported and not asked_something:
        kept = " and ".join(sorted({_KIND_WORDS.get(k, k) for k in supported}))
        lines.append(
            f"Thanks, I've kept the {kept} with this conversation. "
            f'Tell me what you\'d like to report, like "pothole" or "fly-tipping".'
        )
    if unsupported:
        kinds = " or ".join(sorted({_KIND_WORDS.get(k, "file") + "s" for k in unsupported}))
        lines.append(f"Sorry, I can't open {kinds} here. Please type your question, or send a photo instead.")
    return "\n".join(lines) or None


def suggestions_answer(c: Council, services: Sequence[Service]) -> Reply:
    """When unsure: the likeliest services as buttons, and a person to call. Never a dead end."""
    buttons = [{"title": s.title, "payload": f"/{intent_for_service(s.key)}"} for s in services]
    if buttons:
        text = (
            f"Sorry, I'm not sure I understood. Is it one of these?\n"
            f"If not, call us on {c.phone} ({c.opening_hours}) or see {c.site}"
        )
    else:
        text = (
            f"Sorry, I didn't understand that. Try a few words about what you need, like "
            f'"missed bin" or "council tax".\nOr call us on {c.phone} ({c.opening_hours}).'
        )
    return Reply(text=text, buttons=buttons)


def person_answer(c: Council) -> Reply:
    """How to reach a person by phone: for when a case can't be opened (the database is down)."""
    return Reply(text=f"To talk to a person, call us on {c.phone} ({c.opening_hours}).")


def handover_answer(
    c: Optional[Council],
    reference: str,
    created: bool,
    urgent: bool,
    expectation: str,
    offer_contact: bool = False,
    contact_saved: str = "",
) -> str:
    """What the resident is told when a person takes over: the reference to quote, an honest time, and for
    urgent cases the emergency numbers again. `offer_contact`: the reply will come after the platform's
    window or out of hours, so offer to take an email address or phone number (`CONTACT_OFFER`).
    `contact_saved`: they already gave one, so say what we'll use instead (`contact_saved()`)."""
    if created:
        lines = [
            f"I've passed this to our team. Your reference is {reference}.",
            expectation,
            "They'll reply here, and can see our conversation, so you don't need to repeat anything.",
        ]
    else:
        lines = [
            f"You already have a case open with our team: {reference}.",
            expectation,
            "Anything you send here goes straight to them.",
        ]
    if contact_saved:
        lines.append(contact_saved)
    elif offer_contact:
        lines.append(CONTACT_OFFER)
    if urgent:
        emergency, samaritans = (c.emergency, c.samaritans) if c else (EMERGENCY, SAMARITANS)
        lines.append(f"If you or someone else is in danger, call {emergency} now. Samaritans: {samaritans}, any time.")
    return "\n".join(lines)


def case_acknowledgement(reference: str, expectation: str) -> str:
    """Said when a resident writes while their case is with staff (the first message at once, later ones
    now and then), so nobody writes into silence. `expectation`: when they'll hear back, in plain words
    (knowledge/casework/handover.py `expectation`)."""
    return f"Thanks, I've added that to your case {reference}. {expectation}"


# When they'll hear back on a case whose first reply has already been given, or is late.
AFTER_FIRST_REPLY = "Our team will see it and reply here."
REPLY_OVERDUE = "Our team will reply here as soon as they can."


def satisfaction_question(reference: str) -> Reply:
    """Asked once when staff resolve a case."""
    return Reply(
        text=(
            f"Your case {reference} is now closed, and I'm back to answer your questions. "
            f"How did our team do? Reply with a number from 1 (poor) to 5 (very good)."
        ),
        buttons=[{"title": str(n), "payload": str(n)} for n in range(1, 6)],
    )


def satisfaction_thanks() -> str:
    return "Thank you for your feedback. It helps us improve."


def contact_line(c: Council) -> str:
    """One line with the phone number and hours, for replies that need a way out."""
    return f"You can also call us on {c.phone} ({c.opening_hours})."


# --- Floods: rate limits, case caps and messages the bot can't read ------------------------------------------


def slow_down_text() -> str:
    """Said when a resident (or someone pretending to be many) sends faster than the limits allow. Needs no
    database, so it costs nothing under a flood; the emergency number is there in case it matters."""
    return (
        "You're sending messages very quickly, so I can't answer them all. Please wait a minute, then "
        f"send your message again. If you or someone else is in danger, call {EMERGENCY} now."
    )


def no_words_answer(c: Council) -> Reply:
    """After two messages in a row with no words the bot can read (gibberish, only punctuation or emoji):
    how to reach a person, instead of opening a case nobody can act on."""
    return Reply(
        text=(
            f"Sorry, I still can't understand. To talk to a person, call us on {c.phone} "
            f'({c.opening_hours}).\nOr tell me in a few words what you need, like "missed bin", or '
            f'type "speak to a person" and our team will reply here.'
        )
    )


def case_cap_answer(c: Council, busy: bool, reference: Optional[str] = None) -> Reply:
    """When no new case can be opened: the resident already opened as many as allowed today (`busy` False),
    or the team's queue for this channel is full (`busy` True). `reference` is their latest case, to
    quote on the phone. Either way, the phone number."""
    if busy:
        first = "Our team is getting a lot of messages right now, so I can't pass this on here."
    elif reference:
        first = (
            f"You've contacted our team several times today (your latest case is {reference}), so I can't "
            f"open another one here."
        )
    else:
        first = "You've contacted our team several times today, so I can't pass this on here."
    return Reply(
        text=f"{first}\nTo talk to a person, call us on {c.phone} ({c.opening_hours}).\n"
        f"If you or someone else is in danger, call {c.emergency} now."
    )


# --- Contact back: a way to reach the resident after the platform's window (issue 12) -------------------------

# Added to the handover answer when the reply will come after the platform lets us message the resident, or
# out of hours. An offer, never a requirement; the privacy notice is one line, and true: the contact is
# deleted with the case (knowledge/personal_data/).
CONTACT_OFFER = (
    "If you'd like the reply by email or a phone call instead, send your email address or phone number here. "
    "We'll use it only for this case and delete it with the case."
)

# Why a message that looked like an email address or phone number isn't one (knowledge/casework/contact_back.py
# `Problem`), in the resident's terms.
_CONTACT_PROBLEMS = {
    "email_no_name": "that email address has nothing before the @",
    "email_no_domain": "that email address needs the part after the @, like example.com",
    "email_invalid": "that doesn't look like a complete email address",
    "phone_short": "that phone number looks too short",
    "phone_invalid": "that doesn't look like a UK phone number",
}


def contact_saved(masked_email: Optional[str], masked_phone: Optional[str]) -> str:
    """Said when the resident left a way back (or changed it): everything we'll use, masked (the chat may
    be on a shared screen), and that a new one replaces it (we may have read the wrong number)."""
    if masked_email and masked_phone:
        how = f"by email at {masked_email}, or call you on the number ending {masked_phone.lstrip('…')}"
    elif masked_email:
        how = f"by email at {masked_email}"
    else:
        how = f"by phone: we may call you on the number ending {(masked_phone or '').lstrip('…')}"
    return (
        f"Thanks. We'll reply to you {how}. We'll use it only for this case. "
        f"If that's not right, send the right one here and we'll use that instead."
    )


def contact_retry(problem: str, keeping: bool = False) -> str:
    """Asked when an email address or phone number doesn't look right, with the reason. `keeping`: the
    resident already left a contact, which we go on using."""
    why = _CONTACT_PROBLEMS.get(problem, "that doesn't look like an email address or phone number")
    if keeping:
        return f"Sorry, {why}. We'll keep using the one you gave us before. Send it again to change it."
    return (
        f"Sorry, {why}. Please send it again if you'd like us to reply that way, "
        f"or carry on here and we'll reply in this chat."
    )


def email_reply_subject(council_name: str, reference: str) -> str:
    """The subject of a staff reply sent by email: the case reference, so the resident can quote it."""
    return f"Your case {reference} with {council_name}"


def email_reply_body(c: Council, reference: str, staff_text: str) -> str:
    """A staff reply sent by email, plain text: the reply, then how to follow it up (the reference, the
    council's phone number). The address was left for this case only, which the footer says."""
    return (
        f"{staff_text.strip()}\n\n"
        f"Your reference is {reference}. To follow this up, call us on {c.phone} ({c.opening_hours}) "
        f"and quote it.\n\n"
        f"{c.name}\n"
        f"You left this email address in our chat for this case only. We'll delete it with the case."
    )


# --- Web chat: who a reply is from, and photos (issue 12: a web chat that remembers) --------------------------


def staff_label(display_name: str, style: str, team: str) -> str:
    """How a staff reply is signed in the web chat: "Casey (Customer Services)" with style "first_name",
    or the team alone with "team" (or when the staff member's name is unknown). Only the first name: the
    resident needs to know a person answered, not the staff member's full name."""
    first = (display_name or "").strip().split(" ")[0] if display_name else ""
    if style == "team" or not first:
        return team
    return f"{first} ({team})"


def photo_too_large(limit_bytes: int) -> str:
    """Why a photo was refused: over the size limit."""
    return f"Sorry, that photo is too large. Please send one smaller than {_megabytes(limit_bytes)}."


def photo_not_an_image() -> str:
    """Why a file was refused: it isn't a photo we can open (checked from its contents, not its name)."""
    return "Sorry, that file isn't a photo I can open. Please send a JPEG, PNG, GIF or WebP photo."


def photo_not_kept() -> str:
    """The photo couldn't be stored (a database or disk problem): nothing was kept, so they may retry."""
    return "Sorry, I couldn't keep that photo just now. Please try again in a moment."


# --- Web chat photos: limits (issue 12 review) ---------------------------------------------------------------


def photo_limit_reached() -> str:
    """A photo refused because this conversation (or the service today) already keeps as many as it may."""
    return (
        "Sorry, I can't keep any more photos in this conversation. "
        "Please describe the problem in words, or ask for a person."
    )


def photo_no_room() -> str:
    """A photo refused because the council's storage for photos is nearly full: nothing was kept."""
    return "Sorry, I can't take photos just now. Please describe the problem in words, or try again later."


def _megabytes(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 else f"{max(1, round(n / 1024))} KB"
