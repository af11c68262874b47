"""Meta and X webhook bodies as residents' messages: what is a message, what is skipped, and who it is from."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.channels import meta_events, x_events
from bot.channels.events import AttachmentRef, BadPayload, Incoming
from tests.fakes import payloads as p


def _one(parsed: tuple[list[Incoming], list[str]]) -> Incoming:
    messages, skipped = parsed
    assert len(messages) == 1, (messages, skipped)
    return messages[0]


def _none(parsed: tuple[list[Incoming], list[str]]) -> list[str]:
    messages, skipped = parsed
    assert messages == []
    assert skipped, "a skipped event should be counted"
    return skipped


def _messaging(item: dict, obj: str = "page", account: str = p.PAGE_ID) -> dict:
    return {"object": obj, "entry": [{"id": account, "time": 1, "messaging": [item]}]}


def _feed(value: dict) -> dict:
    return {"object": "page", "entry": [{"id": p.PAGE_ID, "time": 1, "changes": [{"field": "feed", "value": value}]}]}


# --- Messenger -------------------------------------------------------------------------------------------------


def test_messenger_text() -> None:
    msg = _one(meta_events.parse(p.messenger("psid-1", "my bin wasn't collected", mid="m_abc")))
    assert (msg.channel, msg.platform_id, msg.user_id, msg.text) == (
        "messenger",
        "m_abc",
        "psid-1",
        "my bin wasn't collected",
    )
    assert msg.account_id == p.PAGE_ID
    assert msg.conversation_id == "messenger:psid-1"
    assert msg.delivery_key == "messenger:m_abc"
    assert msg.origin == "private" and not msg.public
    assert msg.reply_to is None
    assert isinstance(msg.sent_at, dt.datetime)
    assert abs((dt.datetime.now(dt.UTC).replace(tzinfo=None) - msg.sent_at).total_seconds()) < 60


def test_messenger_timestamp_is_milliseconds_as_naive_utc() -> None:
    body = _messaging(
        {
            "sender": {"id": "u"},
            "recipient": {"id": p.PAGE_ID},
            "timestamp": 1700000000123,
            "message": {"mid": "m1", "text": "hi"},
        }
    )
    assert _one(meta_events.parse(body)).sent_at == dt.datetime(2023, 11, 14, 22, 13, 20, 123000)


def test_quick_reply_payload_is_used_as_the_text() -> None:
    msg = _one(meta_events.parse(p.messenger("psid-1", "Missed bin", quick_reply="/svc_bins_missed")))
    assert msg.text == "/svc_bins_missed"


def test_postback_payload_is_the_text() -> None:
    body = _messaging(
        {
            "sender": {"id": "psid-2"},
            "recipient": {"id": p.PAGE_ID},
            "timestamp": 1700000000000,
            "postback": {"mid": "m_pb", "title": "Get started", "payload": "/greet"},
        }
    )
    msg = _one(meta_events.parse(body))
    assert (msg.text, msg.platform_id, msg.conversation_id) == ("/greet", "m_pb", "messenger:psid-2")


def test_postback_without_payload_uses_its_title() -> None:
    body = _messaging(
        {
            "sender": {"id": "psid-2"},
            "recipient": {"id": p.PAGE_ID},
            "timestamp": 1700000000000,
            "postback": {"title": "Get started"},
        }
    )
    msg = _one(meta_events.parse(body))
    assert msg.text == "Get started"
    assert msg.platform_id  # a dedupe key even without a mid


def test_echo_of_our_own_message_is_skipped() -> None:
    body = _messaging(
        {
            "sender": {"id": p.PAGE_ID},
            "recipient": {"id": "psid-1"},
            "timestamp": 1,
            "message": {"mid": "m_echo", "text": "Here's the link", "is_echo": True},
        }
    )
    _none(meta_events.parse(body))
    # is_echo alone is enough, whoever the sender claims to be
    body = _messaging(
        {
            "sender": {"id": "psid-1"},
            "recipient": {"id": p.PAGE_ID},
            "timestamp": 1,
            "message": {"mid": "m_echo2", "text": "Here's the link", "is_echo": True},
        }
    )
    _none(meta_events.parse(body))


@pytest.mark.parametrize(
    "receipt",
    [
        {"read": {"watermark": 1700000000000}},
        {"delivery": {"mids": ["m_1"], "watermark": 1700000000000}},
    ],
)
def test_read_and_delivery_receipts_are_skipped(receipt: dict) -> None:
    body = _messaging({"sender": {"id": "psid-1"}, "recipient": {"id": p.PAGE_ID}, "timestamp": 1, **receipt})
    assert _none(meta_events.parse(body)) == ["messenger event"]


def test_messenger_location_and_image_attachments() -> None:
    atts = [
        {"type": "location", "payload": {"coordinates": {"lat": 52.95, "long": -1.15}}},
        {"type": "image", "payload": {"url": "https://cdn.example/photo.jpg"}},
    ]
    msg = _one(meta_events.parse(p.messenger("psid-1", attachments=atts)))
    assert msg.text == ""
    assert msg.attachments == [
        AttachmentRef(kind="location", latitude=52.95, longitude=-1.15),
        AttachmentRef(kind="image", url="https://cdn.example/photo.jpg"),
    ]


def test_messenger_sticker_and_unknown_attachment_kinds() -> None:
    atts = [
        {"type": "image", "payload": {"url": "https://cdn.example/s.png", "sticker_id": 369239263222822}},
        {"type": "fallback", "payload": {"url": "https://example.org/x"}},
    ]
    msg = _one(meta_events.parse(p.messenger("psid-1", attachments=atts)))
    assert [a.kind for a in msg.attachments] == ["sticker", "file"]


# --- Facebook page comments -------------------------------------------------------------------------------------


def test_page_comment_is_public_and_answered_under_itself() -> None:
    msg = _one(meta_events.parse(p.page_comment("fb-user-9", "pothole on the high street", comment_id="555_777")))
    assert msg.channel == "facebook_comment"
    assert msg.public and msg.origin == "public"
    assert msg.reply_to == "555_777" and msg.platform_id == "555_777"
    assert msg.conversation_id == "facebook_comment:fb-user-9"
    assert msg.text == "pothole on the high street"
    assert msg.account_id == p.PAGE_ID


def test_page_own_comment_is_skipped() -> None:
    _none(meta_events.parse(p.page_comment(p.PAGE_ID, "Thanks, we've sent you a private message.")))


@pytest.mark.parametrize("verb", ["edited", "remove", "hide"])
def test_comment_edits_and_removals_are_skipped(verb: str) -> None:
    body = p.page_comment("fb-user-9", "edited text")
    body["entry"][0]["changes"][0]["value"]["verb"] = verb
    assert _none(meta_events.parse(body)) == ["page feed"]


def test_page_post_reactions_are_skipped() -> None:
    _none(meta_events.parse(_feed({"item": "reaction", "verb": "add", "from": {"id": "u"}, "reaction_type": "like"})))


def test_page_comment_photo_is_an_image_attachment() -> None:
    body = p.page_comment("fb-user-9", "look at this")
    body["entry"][0]["changes"][0]["value"]["photo"] = "https://scontent.example/p.jpg"
    msg = _one(meta_events.parse(body))
    assert msg.attachments == [AttachmentRef(kind="image", url="https://scontent.example/p.jpg")]


# --- Instagram --------------------------------------------------------------------------------------------------


def test_instagram_dm() -> None:
    msg = _one(meta_events.parse(p.instagram_dm("igsid-4", "library opening times", mid="ig_m1")))
    assert (msg.channel, msg.conversation_id, msg.account_id, msg.origin) == (
        "instagram",
        "instagram:igsid-4",
        p.IG_ID,
        "private",
    )


def test_instagram_comment() -> None:
    msg = _one(meta_events.parse(p.instagram_comment("ig-user-5", "when is bin day?", comment_id="18001")))
    assert (msg.channel, msg.conversation_id, msg.reply_to, msg.origin, msg.text) == (
        "instagram_comment",
        "instagram_comment:ig-user-5",
        "18001",
        "public",
        "when is bin day?",
    )


def test_instagram_own_comment_is_skipped() -> None:
    _none(meta_events.parse(p.instagram_comment(p.IG_ID, "We've sent you a direct message.")))


# --- WhatsApp ---------------------------------------------------------------------------------------------------


def test_whatsapp_text() -> None:
    msg = _one(meta_events.parse(p.whatsapp_text("447700900123", "council tax", wamid="wamid.X1")))
    assert (msg.channel, msg.platform_id, msg.user_id, msg.text) == (
        "whatsapp",
        "wamid.X1",
        "447700900123",
        "council tax",
    )
    assert msg.conversation_id == "whatsapp:447700900123"
    assert msg.account_id == p.PHONE_NUMBER_ID
    assert msg.origin == "private"


@pytest.mark.parametrize("kind", ["button_reply", "list_reply"])
def test_whatsapp_interactive_reply_id_is_the_text(kind: str) -> None:
    body = p.whatsapp(
        "447700900123",
        {"type": "interactive", "interactive": {"type": kind, kind: {"id": "/svc_bins_missed", "title": "Missed bin"}}},
    )
    assert _one(meta_events.parse(body)).text == "/svc_bins_missed"


def test_whatsapp_image_with_caption() -> None:
    body = p.whatsapp(
        "447700900123",
        {
            "type": "image",
            "image": {"caption": "fly-tipping here", "mime_type": "image/jpeg", "sha256": "abc", "id": "media-77"},
        },
    )
    msg = _one(meta_events.parse(body))
    assert msg.text == "fly-tipping here"
    assert msg.attachments == [AttachmentRef(kind="image", media_id="media-77", mime_type="image/jpeg")]


def test_whatsapp_location() -> None:
    body = p.whatsapp(
        "447700900123",
        {"type": "location", "location": {"latitude": 52.9548, "longitude": -1.1581, "name": "Market Square"}},
    )
    msg = _one(meta_events.parse(body))
    assert msg.attachments == [AttachmentRef(kind="location", latitude=52.9548, longitude=-1.1581)]


def test_whatsapp_voice_note_is_audio() -> None:
    body = p.whatsapp(
        "447700900123",
        {"type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "media-88", "voice": True}},
    )
    msg = _one(meta_events.parse(body))
    assert msg.text == ""
    assert [(a.kind, a.media_id) for a in msg.attachments] == [("audio", "media-88")]


def test_whatsapp_statuses_are_skipped() -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": p.PHONE_NUMBER_ID},
        "statuses": [{"id": "wamid.out1", "status": "read", "timestamp": "1700000000", "recipient_id": "4477"}],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }
    assert _none(meta_events.parse(body)) == ["whatsapp status"]


def test_whatsapp_reaction_is_skipped() -> None:
    body = p.whatsapp("447700900123", {"type": "reaction", "reaction": {"message_id": "wamid.out1", "emoji": "👍"}})
    _none(meta_events.parse(body))


# --- X ----------------------------------------------------------------------------------------------------------


def test_x_mention_strips_leading_handles() -> None:
    body = p.x_mention("x-user-3", "@someone   the bins weren't collected @NorthshireCC", tweet_id="1900")
    msg = _one(x_events.parse(body))
    assert msg.text == "the bins weren't collected @NorthshireCC"  # only the leading handles go
    assert (msg.channel, msg.platform_id, msg.reply_to, msg.account_id) == ("x_mention", "1900", "1900", p.X_ACCOUNT)
    assert msg.conversation_id == "x_mention:x-user-3"
    assert msg.public and msg.origin == "public"


def test_x_mention_extended_tweet_full_text_wins() -> None:
    body = p.x_mention("x-user-3", "short…")
    body["tweet_create_events"][0]["extended_tweet"] = {"full_text": "@NorthshireCC the full long text"}
    assert _one(x_events.parse(body)).text == "the full long text"


def test_x_own_tweet_is_skipped() -> None:
    _none(x_events.parse(p.x_mention(p.X_ACCOUNT, "We've sent you a DM")))


def test_x_retweet_is_skipped() -> None:
    body = p.x_mention("x-user-3", "RT this")
    body["tweet_create_events"][0]["retweeted_status"] = {"id_str": "1"}
    assert _none(x_events.parse(body)) == ["x tweet"]


def test_x_mention_photo() -> None:
    body = p.x_mention("x-user-3", "look")
    body["tweet_create_events"][0]["extended_entities"] = {
        "media": [{"type": "photo", "media_url_https": "https://pbs.twimg.com/media/a.jpg"}]
    }
    msg = _one(x_events.parse(body))
    assert msg.attachments == [AttachmentRef(kind="image", url="https://pbs.twimg.com/media/a.jpg")]


def test_x_dm() -> None:
    msg = _one(x_events.parse(p.x_dm("x-user-3", "parking permit", event_id="dm-1")))
    assert (msg.channel, msg.platform_id, msg.user_id, msg.text, msg.origin) == (
        "x",
        "dm-1",
        "x-user-3",
        "parking permit",
        "private",
    )
    assert msg.conversation_id == "x:x-user-3"
    assert msg.delivery_key == "x:dm-1"


def test_x_own_dm_is_skipped() -> None:
    assert _none(x_events.parse(p.x_dm(p.X_ACCOUNT, "Here's the link"))) == ["x dm event"]


def test_x_dm_quick_reply_metadata_is_the_text() -> None:
    body = p.x_dm("x-user-3", "Missed bin")
    body["direct_message_events"][0]["message_create"]["message_data"]["quick_reply_response"] = {
        "type": "options",
        "metadata": "/svc_bins_missed",
    }
    assert _one(x_events.parse(body)).text == "/svc_bins_missed"


def test_x_dm_media_link_is_removed_from_text() -> None:
    body = p.x_dm("x-user-3", "broken streetlight https://t.co/abc123")
    body["direct_message_events"][0]["message_create"]["message_data"]["attachment"] = {
        "type": "media",
        "media": {
            "type": "photo",
            "url": "https://t.co/abc123",
            "media_url_https": "https://ton.twitter.com/i/dm/1.jpg",
        },
    }
    msg = _one(x_events.parse(body))
    assert msg.text == "broken streetlight"
    assert msg.attachments == [AttachmentRef(kind="image", url="https://ton.twitter.com/i/dm/1.jpg")]


def test_x_other_activity_is_skipped_and_counted() -> None:
    messages, skipped = x_events.parse(
        {"for_user_id": p.X_ACCOUNT, "favorite_events": [{}], "direct_message_indicate_typing_events": [{}]}
    )
    assert messages == []
    assert sorted(skipped) == ["x direct_message_indicate_typing_events", "x favorite_events"]


# --- across platforms -------------------------------------------------------------------------------------------


def test_same_user_id_on_two_platforms_is_two_conversations() -> None:
    a = _one(meta_events.parse(p.messenger("12345", "hi")))
    b = _one(x_events.parse(p.x_dm("12345", "hi")))
    c = _one(meta_events.parse(p.whatsapp_text("12345", "hi")))
    d = _one(meta_events.parse(p.page_comment("12345", "hi")))
    e = _one(x_events.parse(p.x_mention("12345", "hi")))
    ids = [m.conversation_id for m in (a, b, c, d, e)]
    assert ids == ["messenger:12345", "x:12345", "whatsapp:12345", "facebook_comment:12345", "x_mention:12345"]


def test_one_meta_body_can_hold_several_messages() -> None:
    body = p.messenger("psid-1", "one")
    body["entry"].append(p.messenger("psid-2", "two")["entry"][0])
    messages, _ = meta_events.parse(body)
    assert [(m.user_id, m.text) for m in messages] == [("psid-1", "one"), ("psid-2", "two")]


@pytest.mark.parametrize("payload", [None, [], "entry", 42, {}, {"object": "page"}, {"object": "page", "entry": {}}])
def test_meta_bad_payload(payload: object) -> None:
    with pytest.raises(BadPayload):
        meta_events.parse(payload)


@pytest.mark.parametrize(
    "payload", [None, [], "x", {}, {"tweet_create_events": []}, {"for_user_id": ""}, {"for_user_id": None}]
)
def test_x_bad_payload(payload: object) -> None:
    with pytest.raises(BadPayload):
        x_events.parse(payload)


def test_meta_unknown_object_is_skipped() -> None:
    assert _none(meta_events.parse({"object": "user", "entry": [{"id": "1"}]})) == ["object user"]


def test_meta_junk_entries_do_not_raise() -> None:
    messages, _ = meta_events.parse({"object": "page", "entry": [None, 3, "x", {"messaging": [None, {}]}]})
    assert messages == []


def test_incoming_round_trips_through_a_dict() -> None:
    msg = Incoming(
        channel="whatsapp",
        platform_id="wamid.1",
        user_id="4477",
        text="fly-tipping",
        account_id="106",
        reply_to=None,
        sent_at=dt.datetime(2026, 1, 2, 3, 4, 5, 6000),
        attachments=[
            AttachmentRef(kind="location", latitude=52.1, longitude=-1.2),
            AttachmentRef(kind="image", media_id="m1", mime_type="image/jpeg"),
        ],
    )
    data = msg.to_dict()
    assert Incoming.from_dict(json.loads(json.dumps(data))) == msg  # survives storage as JSON
    empty = Incoming(channel="x", platform_id="1", user_id="2")
    assert Incoming.from_dict(empty.to_dict()) == empty


# --- Odd but signed bodies (issue 9) ---------------------------------------------------------------------------


def test_instagram_comment_is_dated_by_its_entry_and_skipped_without_a_time() -> None:
    body = p.instagram_comment("igc-user", "pothole")
    body["entry"][0]["time"] = 1700000000
    assert _one(meta_events.parse(body)).sent_at == dt.datetime(2023, 11, 14, 22, 13, 20)
    del body["entry"][0]["time"]
    assert _none(meta_events.parse(body)) == ["instagram comments"]
    body["entry"][0]["time"] = "not a time"
    _none(meta_events.parse(body))


def test_messenger_entry_time_in_milliseconds_dates_an_event_without_a_timestamp() -> None:
    body = p.messenger("psid-1", "hi")
    del body["entry"][0]["messaging"][0]["timestamp"]
    body["entry"][0]["time"] = 1700000000123
    assert _one(meta_events.parse(body)).sent_at == dt.datetime(2023, 11, 14, 22, 13, 20, 123000)


@pytest.mark.parametrize(
    "bad_id",
    ["7" * 251, "a b", "psid\n1", "<script>", "\u00e9t\u00e9", ""],
    ids=["too-long", "space", "newline", "markup", "non-ascii", "empty"],
)
def test_an_event_with_an_unusable_id_is_skipped_and_the_rest_of_the_batch_kept(bad_id: str) -> None:
    batch = p.messenger("good-psid", "pothole")
    batch["entry"].append(p.messenger(bad_id, "pothole")["entry"][0])
    messages, skipped = meta_events.parse(batch)
    assert [m.user_id for m in messages] == ["good-psid"]
    assert len(skipped) == 1 and bad_id not in skipped[0] if bad_id else True


def test_ids_at_the_column_limits_are_kept() -> None:
    user, mid = "1" * 150, "m" * 250
    msg = _one(meta_events.parse(p.messenger(user, "hi", mid=mid)))
    assert len(msg.conversation_id) <= 200 and len(msg.delivery_key) <= 300
    _none(meta_events.parse(p.messenger("1" * 151, "hi")))


@pytest.mark.parametrize(
    "swap",
    [
        ("entry", 0, "messaging", 0, "sender"),
        ("entry", 0, "messaging", 0, "message"),
        ("entry", 0, "messaging", 0, "message", "attachments"),
        ("entry", 0, "messaging", 0, "timestamp"),
        ("entry", 0, "messaging"),
        ("entry", 0),
    ],
)
@pytest.mark.parametrize("value", [7, "x", [1], {"id": {}}, None, 1e308, True])
def test_fields_of_the_wrong_type_never_raise(swap: tuple, value: object) -> None:
    body = p.messenger("psid-1", "hi", attachments=[{"type": "location", "payload": {"coordinates": {"lat": 1}}}])
    target = body
    for key in swap[:-1]:
        target = target[key]
    target[swap[-1]] = value
    messages, skipped = meta_events.parse(body)  # returns (the event is used or skipped), never raises
    assert all(isinstance(m, Incoming) for m in messages) and all(isinstance(k, str) for k in skipped)


def test_timestamps_out_of_range_are_no_time() -> None:
    from bot.channels.events import from_epoch

    for value in (10**30, -(10**30), 1e308, float("nan"), "9" * 400, -1, True, {"t": 1}, [1]):
        assert from_epoch(value) is None and from_epoch(value, millis=True) is None
    assert from_epoch(1700000000, millis=None) == from_epoch(1700000000000, millis=None)


def test_coordinates_that_are_not_finite_numbers_are_dropped() -> None:
    atts = [{"type": "location", "payload": {"coordinates": {"lat": "1e999", "long": "nan"}}}]
    msg = _one(meta_events.parse(p.messenger("psid-1", attachments=atts)))
    assert msg.attachments[0].latitude is None and msg.attachments[0].longitude is None
    json.dumps(msg.to_dict(), allow_nan=False)  # storable as strict JSON (PostgreSQL refuses NaN)


def test_x_bodies_with_fields_of_the_wrong_type() -> None:
    body = p.x_mention("x-user", "pothole")
    body["tweet_create_events"][0]["text"] = {"not": "text"}
    body["direct_message_events"] = 7
    messages, _ = x_events.parse(body)
    assert [m.text for m in messages] == [""]
    body = p.x_mention("x-user", "pothole")
    body["tweet_create_events"][0]["extended_entities"] = {"media": "not a list"}
    assert _one(x_events.parse(body)).attachments == []
