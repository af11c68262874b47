"""What residents see: private answers with their buttons, public answers that never expose anyone.

`plan` is pure, so every policy case is checked without a server; the senders' JSON is checked against the
shapes the Send API and the WhatsApp Cloud API accept.
"""

from __future__ import annotations

from typing import Optional

import pytest

from bot.channels.events import Incoming
from bot.channels.sending.limits import weighted_length
from bot.channels.sending.replies import Understanding, plan
from bot.channels.sending.senders import Outgoing, messenger_message, whatsapp_message
from knowledge.channels import LIMITS
from knowledge.models import Council

POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"
HOSPITAL = "https://www.northshire.gov.uk/adult-social-care/leaving-hospital"
COUNCIL = Council(
    id=1,
    name="Northshire Council",
    site="https://www.northshire.gov.uk",
    phone="0300 123 4567",
    opening_hours="Monday to Friday, 8:30am to 5pm",
    out_of_hours_social_care="0300 123 9999",
    emergency="999",
    samaritans="116 123",
    allowed_domains=["northshire.gov.uk"],
)
POTHOLE_ANSWER = [
    {
        "text": f"Report a pothole: tell us where it is.\n{POTHOLE}\nOr call 0300 123 4567 "
        f"(Monday to Friday, 8:30am to 5pm)."
    }
]
FIVE = [
    {"title": t, "payload": f"/svc_{i}"}
    for i, t in enumerate(["Missed bin", "Council tax", "Report a pothole", "Parking permit", "Library opening times"])
]


def _in(channel: str, text: str = "pothole on the high street") -> Incoming:
    public = channel in ("facebook_comment", "instagram_comment", "x_mention")
    return Incoming(
        channel=channel, platform_id="p1", user_id="u1", text=text, account_id="acc", reply_to="c1" if public else None
    )


def _kinds(out: list[Outgoing]) -> list[str]:
    return [o.kind for o in out]


# --- private channels -------------------------------------------------------------------------------------------


def test_private_messenger_keeps_buttons() -> None:
    out = plan(
        _in("messenger"), [{"text": "Is it one of these?", "buttons": FIVE}], Understanding("nlu_fallback"), COUNCIL
    )
    assert len(out) == 1
    assert out[0].kind == "message" and out[0].text == "Is it one of these?"
    assert out[0].buttons == FIVE
    sent = messenger_message(out[0], "messenger")
    assert [q["title"] for q in sent["quick_replies"]] == [
        "Missed bin",
        "Council tax",
        "Report a pothole",
        "Parking permit",
        "Library opening tim…",
    ]
    assert [q["payload"] for q in sent["quick_replies"]] == [b["payload"] for b in FIVE]


def test_each_bot_message_is_its_own_message_in_order() -> None:
    out = plan(
        _in("whatsapp"), [{"text": "First."}, {"text": "Second.", "buttons": FIVE[:2]}], Understanding(), COUNCIL
    )
    assert [(o.text, len(o.buttons)) for o in out] == [("First.", 0), ("Second.", 2)]


def test_x_dm_has_no_buttons_so_they_become_lines() -> None:
    out = plan(_in("x"), [{"text": "Is it one of these?", "buttons": FIVE}], Understanding(), COUNCIL)
    assert len(out) == 1 and out[0].buttons == []
    lines = out[0].text.split("\n")
    assert lines[0] == "Is it one of these?"
    assert lines[1:] == [f"- {b['title']}" for b in FIVE]


def test_buttons_without_text_still_make_a_message() -> None:
    out = plan(_in("messenger"), [{"buttons": FIVE[:2]}], Understanding(), COUNCIL)
    assert len(out) == 1 and out[0].text and out[0].buttons == FIVE[:2]


def test_long_private_answer_is_split_and_buttons_come_last() -> None:
    long = "\n".join(f"Paragraph {i}. " + "Some useful words about the service. " * 20 for i in range(6))
    assert len(long) > 2000
    out = plan(_in("messenger"), [{"text": long + f"\n{POTHOLE}", "buttons": FIVE[:2]}], Understanding(), COUNCIL)
    assert len(out) >= 3
    assert all(o.kind == "message" and len(o.text) <= 2000 for o in out)
    assert [bool(o.buttons) for o in out] == [False] * (len(out) - 1) + [True]
    assert POTHOLE in out[-1].text


def test_nothing_to_say_sends_nothing() -> None:
    assert plan(_in("messenger"), [], Understanding(), COUNCIL) == []
    assert plan(_in("facebook_comment"), [], Understanding(), COUNCIL) == []


# --- public channels --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["facebook_comment", "instagram_comment", "x_mention"])
def test_public_comment_without_personal_details_gets_one_public_answer_with_the_link(channel: str) -> None:
    out = plan(
        _in(channel, "pothole on the high street"), POTHOLE_ANSWER, Understanding("svc_roads_pothole", "roads"), COUNCIL
    )
    assert _kinds(out) == ["public_reply"]
    assert POTHOLE in out[0].text
    assert weighted_length(out[0].text, LIMITS[channel]) <= LIMITS[channel].max_chars


def test_long_public_answer_on_x_is_one_post_that_keeps_the_link() -> None:
    long = [{"text": "Report a pothole. " + "We fix potholes on council roads within 28 days. " * 10 + POTHOLE}]
    out = plan(_in("x_mention"), long, Understanding("svc_roads_pothole", "roads"), COUNCIL)
    assert _kinds(out) == ["public_reply"]
    assert POTHOLE in out[0].text and weighted_length(out[0].text, LIMITS["x_mention"]) <= 280


PERSONAL = [
    ("pothole outside NG1 5DT, it's huge", "NG1 5DT"),
    ("pothole, ring me on 07700 900123", "07700 900123"),
    ("pothole, email me at sam.jones@example.com", "sam.jones@example.com"),
    ("there's a pothole outside 14 Elm Road", "14 Elm Road"),
    ("my mum Jean tripped in a pothole", "Jean"),
]


@pytest.mark.parametrize(
    "channel,word", [("facebook_comment", "private message"), ("instagram_comment", "direct message")]
)
@pytest.mark.parametrize("text,detail", PERSONAL)
def test_public_comment_with_personal_details_is_answered_privately(
    channel: str, word: str, text: str, detail: str
) -> None:
    out = plan(_in(channel, text), POTHOLE_ANSWER, Understanding("svc_roads_pothole", "roads"), COUNCIL)
    assert _kinds(out) == ["public_reply", "private_reply"]
    invite, private = out
    assert word in invite.text
    assert detail not in invite.text and POTHOLE not in invite.text
    assert "http" not in invite.text
    assert POTHOLE in private.text


@pytest.mark.parametrize("text", ["My mum Jean tripped in a pothole", "My name is Sam Jones, pothole on the corner"])
def test_name_at_the_start_of_a_comment_is_answered_privately(text: str) -> None:
    out = plan(_in("facebook_comment", text), POTHOLE_ANSWER, Understanding("svc_roads_pothole", "roads"), COUNCIL)
    assert _kinds(out) == ["public_reply", "private_reply"]


@pytest.mark.parametrize(
    "understood",
    [
        Understanding("svc_asc_leaving_hospital", "adult_social_care"),
        Understanding("svc_safeguarding_child", "safeguarding"),
        Understanding("svc_benefits_housing", "benefits"),
        Understanding("svc_housing_homeless", "housing", always_human=True),
        Understanding("human_handoff"),
        Understanding("crisis"),
    ],
)
def test_sensitive_topics_are_never_answered_in_public(understood: Understanding) -> None:
    answer = [{"text": f"Leaving hospital: support at home.\n{HOSPITAL}"}]
    out = plan(_in("facebook_comment", "help getting my dad home from hospital"), answer, understood, COUNCIL)
    assert _kinds(out) == ["public_reply", "private_reply"]
    assert HOSPITAL not in out[0].text and "hospital" not in out[0].text.lower()
    assert HOSPITAL in out[1].text


def test_ordinary_service_is_not_treated_as_sensitive() -> None:
    out = plan(
        _in("facebook_comment", "when is bin day"), POTHOLE_ANSWER, Understanding("svc_bins_day", "bins"), COUNCIL
    )
    assert _kinds(out) == ["public_reply"]


@pytest.mark.parametrize("council", [COUNCIL, None])
@pytest.mark.parametrize("channel", ["facebook_comment", "x_mention"])
def test_crisis_in_public_gives_the_emergency_numbers_publicly(council: Optional[Council], channel: str) -> None:
    crisis = [{"text": "If you or someone else is in danger right now, call 999.\nSamaritans: 116 123."}]
    out = plan(_in(channel, "I can't go on any more"), crisis, Understanding("crisis"), council)
    invite = out[0]
    assert invite.kind == "public_reply"
    assert "999" in invite.text and "116 123" in invite.text
    assert weighted_length(invite.text, LIMITS["x_mention"]) <= 280
    assert "can't go on" not in invite.text
    assert out[1].kind == "private_reply"


def test_crisis_invite_uses_the_councils_numbers() -> None:
    other = Council(id=1, emergency="112", samaritans="116 999")
    invite = plan(_in("facebook_comment", "help"), [{"text": "x"}], Understanding("crisis"), other)[0]
    assert "112" in invite.text and "116 999" in invite.text


def test_x_mention_sensitive_is_invite_then_dms_as_many_as_needed() -> None:
    long = "\n".join(f"Part {i}. " + "Support to leave hospital and get home safely. " * 40 for i in range(8))
    assert len(long) > 10000
    out = plan(
        _in("x_mention", "help getting my dad home"),
        [{"text": long + "\n" + HOSPITAL}],
        Understanding("svc_asc_leaving_hospital", "adult_social_care"),
        COUNCIL,
    )
    assert out[0].kind == "public_reply" and "DM" in out[0].text
    assert weighted_length(out[0].text, LIMITS["x_mention"]) <= 280
    dms = out[1:]
    assert len(dms) >= 2 and all(o.kind == "private_reply" and len(o.text) <= 10000 for o in dms)
    assert HOSPITAL in dms[-1].text
    assert "".join(o.text for o in dms).replace("\n", "").replace(" ", "") == (long + HOSPITAL).replace(
        "\n", ""
    ).replace(" ", "")


def test_x_mention_personal_details_go_by_dm() -> None:
    out = plan(
        _in("x_mention", "@NorthshireCC bins missed at 14 Elm Road"),
        POTHOLE_ANSWER,
        Understanding("svc_bins_missed", "bins"),
        COUNCIL,
    )
    assert _kinds(out) == ["public_reply", "private_reply"]
    assert "Elm Road" not in out[0].text and POTHOLE not in out[0].text
    assert POTHOLE in out[1].text


def test_meta_private_reply_is_one_message_that_fits() -> None:
    """Meta allows a single private reply per comment, so the whole answer has to be in it."""
    long = [{"text": "Leaving hospital. " * 200 + HOSPITAL}, {"text": "Anything else?", "buttons": FIVE}]
    out = plan(
        _in("facebook_comment", "my mum Jean is in hospital"),
        long,
        Understanding("svc_asc_leaving_hospital", "adult_social_care"),
        COUNCIL,
    )
    assert _kinds(out) == ["public_reply", "private_reply"]
    assert len(out[1].text) <= 2000 and HOSPITAL in out[1].text


def test_public_answer_buttons_become_text() -> None:
    out = plan(
        _in("facebook_comment", "help"),
        [{"text": "Is it one of these?", "buttons": FIVE[:2]}],
        Understanding("nlu_fallback"),
        COUNCIL,
    )
    assert _kinds(out) == ["public_reply"]
    assert out[0].buttons == [] and "- Missed bin" in out[0].text and "- Council tax" in out[0].text


# --- senders' JSON ----------------------------------------------------------------------------------------------


def _buttons(n: int, title: str = "Option") -> list[dict[str, str]]:
    return [{"title": f"{title} {i}", "payload": f"/choice_{i}"} for i in range(n)]


def test_messenger_quick_replies_capped_at_13_with_short_titles() -> None:
    msg = messenger_message(Outgoing("message", "Pick one", _buttons(15, "A rather long button title")), "messenger")
    assert msg["text"] == "Pick one"
    qr = msg["quick_replies"]
    assert len(qr) == 13
    assert all(q["content_type"] == "text" and len(q["title"]) <= 20 for q in qr)
    assert [q["payload"] for q in qr] == [f"/choice_{i}" for i in range(13)]


def test_messenger_without_buttons_is_plain_text() -> None:
    assert messenger_message(Outgoing("message", "Hello"), "messenger") == {"text": "Hello"}


def test_messenger_quick_reply_payload_defaults_to_title() -> None:
    msg = messenger_message(Outgoing("message", "Pick", [{"title": "Yes"}]), "instagram")
    assert msg["quick_replies"] == [{"content_type": "text", "title": "Yes", "payload": "Yes"}]


def test_whatsapp_plain_text() -> None:
    msg = whatsapp_message("447700900123", Outgoing("message", f"See {POTHOLE}"))
    assert msg == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447700900123",
        "type": "text",
        "text": {"body": f"See {POTHOLE}", "preview_url": True},
    }


@pytest.mark.parametrize("n", [1, 2, 3])
def test_whatsapp_up_to_three_choices_are_reply_buttons(n: int) -> None:
    msg = whatsapp_message("4477", Outgoing("message", "Pick", _buttons(n, "A very long title for a button")))
    assert msg["type"] == "interactive" and msg["to"] == "4477"
    inter = msg["interactive"]
    assert inter["type"] == "button" and inter["body"] == {"text": "Pick"}
    buttons = inter["action"]["buttons"]
    assert len(buttons) == n
    assert all(b["type"] == "reply" and len(b["reply"]["title"]) <= 20 for b in buttons)
    assert [b["reply"]["id"] for b in buttons] == [f"/choice_{i}" for i in range(n)]


@pytest.mark.parametrize("n,rows", [(4, 4), (10, 10), (11, 10), (25, 10)])
def test_whatsapp_four_or_more_choices_are_a_list_of_at_most_ten(n: int, rows: int) -> None:
    msg = whatsapp_message("4477", Outgoing("message", "Pick", _buttons(n, "A very long title for a list row")))
    inter = msg["interactive"]
    assert inter["type"] == "list"
    [section] = inter["action"]["sections"]
    assert len(section["rows"]) == rows
    assert all(len(r["title"]) <= 24 for r in section["rows"])
    assert [r["id"] for r in section["rows"]] == [f"/choice_{i}" for i in range(rows)]
    assert len(inter["action"]["button"]) <= 20


def test_whatsapp_interactive_body_is_cut_to_1024() -> None:
    msg = whatsapp_message("4477", Outgoing("message", "x" * 3000, _buttons(2)))
    assert len(msg["interactive"]["body"]["text"]) <= 1024


def test_whatsapp_answer_with_buttons_loses_nothing() -> None:
    text = "Leaving hospital: we can help you get home safely. " * 30 + HOSPITAL  # ~1,600 characters
    out = plan(_in("whatsapp"), [{"text": text, "buttons": FIVE[:2]}], Understanding(), COUNCIL)
    sent = [whatsapp_message("4477", o) for o in out]
    bodies = [s["text"]["body"] if s["type"] == "text" else s["interactive"]["body"]["text"] for s in sent]
    assert any(HOSPITAL in b for b in bodies)
    assert " ".join(" ".join(b.split()) for b in bodies) == " ".join(text.split())
