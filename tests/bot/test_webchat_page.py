"""The web chat channel without a Rasa server: its files, its page, its headers and its endpoint's logic.

sanic-testing isn't installed, so the responses are built by the same functions the routes call and
inspected directly; the routes themselves (and the page in a real browser) are covered by
tests/e2e/test_webchat.py.
"""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Optional

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels import webchat
from bot.channels.rest import EMPTY_REPLY
from bot.channels.webchat import (
    GENERIC_NAME,
    IMMUTABLE,
    PAGE_FILE,
    STATIC_DIR,
    WebChatInput,
    asset_response,
    assets,
    page_message,
    page_response,
    read_council_name,
    render_page,
)

CSS = (STATIC_DIR / "webchat.css").read_text(encoding="utf-8")
JS = (STATIC_DIR / "webchat.js").read_text(encoding="utf-8")
# The script's code without its comments (which may name what the code must never do).
JS_CODE = re.sub(r"(?m)(^|\s)//.*$", "", re.sub(r"(?s)/\*.*?\*/", "", JS))


class Page(HTMLParser):
    """The page's elements as (tag, attributes) in document order, plus the text inside each <script>."""

    def __init__(self, html: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, Optional[str]]]] = []
        self.script_text: list[str] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, Optional[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in {"meta", "link", "input", "br"}:
            self._open.append((tag, dict(attrs).get("id")))
            if tag == "script":
                self.script_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0] == "script":
            self.script_text[-1] += data
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] = self.text_by_id.get(element_id, "") + data

    def find(self, tag: str, **attrs: str) -> list[dict[str, Optional[str]]]:
        """Attributes of each `tag` element whose attributes match (`aria_live=` means `aria-live`)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in wanted.items())]


@pytest.fixture(scope="module")
def page() -> Page:
    return Page(render_page("Northshire Council"))


def test_the_static_files_sit_beside_the_module() -> None:
    for name in (PAGE_FILE, "webchat.css", "webchat.js"):
        assert (STATIC_DIR / name).is_file(), name
    assert Path(webchat.__file__).resolve().parent / "static" == STATIC_DIR  # not the working directory


def test_only_css_and_js_are_served_as_static_files() -> None:
    assert set(assets()) == {"webchat.css", "webchat.js"}


def test_page_declares_language_viewport_and_names_the_council(page: Page) -> None:
    assert page.find("html", lang="en-GB")
    viewport = page.find("meta", name="viewport")
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
    assert page.find("h1", id="chat-title")
    assert page.text_by_id["chat-title"].strip() == "Ask Northshire Council"


def test_council_name_is_escaped_in_the_page() -> None:
    html = render_page('<img src=x onerror="alert(1)">')
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_page_has_a_polite_log_a_labelled_input_and_a_send_button(page: Page) -> None:
    assert page.find("div", role="log", aria_live="polite")
    labels = page.find("label")
    inputs = page.find("input", id="chat-input")
    assert inputs and labels and labels[0]["for"] == "chat-input"
    assert page.text_by_id["chat-form"].count("Your message") == 1
    assert page.find("form", id="chat-form", method="post")  # text never lands in a URL, even without JS
    assert page.find("button", type="submit", id="chat-send")
    assert page.text_by_id["chat-send"].strip() == "Send"
    # Typing and errors are announced outside the log.
    assert page.find("p", id="chat-typing", role="status", aria_live="polite")
    assert page.find("p", id="chat-error", role="alert")


def test_page_has_no_inline_script_style_or_handlers(page: Page) -> None:
    scripts = page.find("script")
    assert scripts and all(s.get("src") for s in scripts)
    assert all(not text.strip() for text in page.script_text)
    assert not page.find("style")
    for tag, attrs in page.elements:
        assert "style" not in attrs, tag
        assert not [a for a in attrs if a.startswith("on")], tag


def test_page_loads_nothing_from_elsewhere(page: Page) -> None:
    urls = [a.get("src") or a.get("href") for t, a in page.elements if t in {"script", "link", "img", "a"}]
    assert urls and all(u and not re.match(r"^(https?:)?//", u) for u in urls)
    assert not re.search(r"https?://|url\(", CSS)


def test_page_links_each_asset_by_its_version(page: Page) -> None:
    (script,) = page.find("script")
    (style,) = page.find("link", rel="stylesheet")
    assert script["src"] == f"static/webchat.js?v={assets()['webchat.js'].version}"
    assert style["href"] == f"static/webchat.css?v={assets()['webchat.css'].version}"
    assert "{{" not in render_page("x")


def test_page_response_sends_the_security_headers() -> None:
    resp = page_response("Northshire Council")
    assert resp.status == 200 and resp.content_type.startswith("text/html")
    csp = resp.headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("name,content_type", [("webchat.css", "text/css"), ("webchat.js", "text/javascript")])
def test_assets_get_their_content_type_and_are_cached_only_when_versioned(name: str, content_type: str) -> None:
    current = asset_response(name, assets()[name].version)
    assert current.status == 200 and current.content_type.startswith(content_type)
    assert current.body == (STATIC_DIR / name).read_bytes()
    assert current.headers["X-Content-Type-Options"] == "nosniff"
    assert current.headers["Cache-Control"] == IMMUTABLE
    assert asset_response(name, None).headers["Cache-Control"] == "no-cache"
    assert asset_response(name, "stale").headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("name", ["webchat.html", "../webchat.py", "..", "webchat.py", "WEBCHAT.JS", "nope.js", ""])
def test_anything_else_is_not_found(name: str) -> None:
    assert asset_response(name, None).status == 404


def test_script_never_writes_html() -> None:
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("on',
        "javascript:",
    ):
        assert sink not in JS_CODE, sink
    assert "textContent" in JS_CODE and "createTextNode" in JS_CODE


def test_script_keeps_a_random_sender_on_the_device_and_posts_relative() -> None:
    # localStorage: the conversation survives reloads and return visits (issue 12); never a cookie, which
    # would travel with every request.
    assert "randomUUID" in JS_CODE and "getRandomValues" in JS_CODE
    assert "localStorage" in JS_CODE and "sessionStorage" not in JS_CODE and "document.cookie" not in JS_CODE
    assert 'ENDPOINT = "webhook"' in JS_CODE
    assert "Math.random" not in JS_CODE


def test_styles_show_keyboard_focus_and_keep_text_at_16px_or_more() -> None:
    focus = re.search(r"(?m)^:focus-visible\s*\{([^}]*)\}", CSS)
    assert focus and re.search(r"outline:\s*3px solid #0b0c0c", focus.group(1))
    assert not re.search(r"outline:\s*(none|0)\b", CSS)
    for size in re.findall(r"font-size:\s*([^;]+);", CSS):
        value = size.strip()
        if value.endswith("rem"):
            assert float(value[:-3]) >= 1, value
        elif value.endswith("px"):
            assert float(value[:-2]) >= 16, value
        else:
            assert value in {"100%", "inherit"}, value


def test_page_has_a_labelled_photo_input_a_restart_button_and_an_announcer(page: Page) -> None:
    photo = page.find("input", id="chat-photo")
    assert photo and photo[0]["type"] == "file" and photo[0]["accept"] == "image/*"
    assert page.find("label", **{"for": "chat-photo"})
    assert int(photo[0]["data-max-bytes"] or 0) == 10 * 1024 * 1024  # WEBCHAT_PHOTO_MAX_BYTES' default
    restart = page.find("button", id="chat-restart")
    assert restart and restart[0]["type"] == "button"
    announcer = page.find("p", id="chat-announcer")
    # A live region of its own, not a second "status" (the typing indicator is the page's status).
    assert announcer and announcer[0]["aria-live"] == "polite" and "role" not in announcer[0]


def test_script_polls_slower_while_hidden_from_one_place() -> None:
    visible = re.search(r"POLL_VISIBLE_MS = (\d+);", JS_CODE)
    hidden = re.search(r"POLL_HIDDEN_MS = (\d+);", JS_CODE)
    assert visible and hidden and int(visible.group(1)) < int(hidden.group(1)) <= 60_000
    assert JS_CODE.count("POLL_VISIBLE_MS") == 2 and JS_CODE.count("POLL_HIDDEN_MS") == 2  # defined, used once
    assert "visibilitychange" in JS_CODE and "document.title" in JS_CODE


def test_bot_messages_reach_the_page_as_text_and_buttons_only() -> None:
    full = {
        "recipient_id": "web:abc",
        "text": "Pick one",
        "image": "https://x",
        "custom": {"a": 1},
        "buttons": [{"title": "Bins", "payload": "/svc_bins", "type": "postback"}],
    }
    assert page_message(full) == {"text": "Pick one", "buttons": [{"title": "Bins", "payload": "/svc_bins"}]}
    assert page_message({"recipient_id": "web:abc", "text": "Hi"}) == {"text": "Hi"}


def test_council_name_comes_from_the_knowledge_base(kb_url: str, tmp_path: Path) -> None:
    assert read_council_name(kb_url) == "Northshire Council"
    assert read_council_name(f"sqlite:///{tmp_path / 'empty.db'}") == GENERIC_NAME


class Recorder:
    """Stands in for Rasa: records each UserMessage and answers with `replies` (or raises `error`)."""

    def __init__(self, replies: tuple[dict[str, Any], ...] = (), error: Optional[BaseException] = None):
        self.messages: list[UserMessage] = []
        self.replies, self.error = replies, error

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.error is not None:
            raise self.error
        for reply in self.replies:
            await message.output_channel.send_text_with_buttons(
                message.sender_id, reply["text"], reply.get("buttons", [])
            )


def post(recorder: Recorder, payload: object, token: Optional[str] = None) -> tuple[int, Any]:
    status, body, _ = post_full(recorder, payload, token)
    return status, body


def post_full(recorder: Recorder, payload: object, token: Optional[str] = None) -> tuple[int, Any, dict]:
    """POST to the web chat endpoint in-process: (status, JSON body, response headers)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    resp = asyncio.run(WebChatInput().answer(raw, recorder, token))
    return resp.status, json.loads(resp.body), dict(resp.headers)


def test_conversation_is_namespaced_with_fixed_metadata(kb_url: str) -> None:
    rasa = Recorder(({"text": "Report it at https://www.northshire.gov.uk/roads/report-a-pothole"},))
    status, body = post(
        rasa,
        {
            "sender": "3f2b9c1e-1111-4222-8333-444455556666",
            "message": "pothole",
            "metadata": {"origin": "public", "channel": "x"},
        },
    )
    assert status == 200
    assert body == [{"text": "Report it at https://www.northshire.gov.uk/roads/report-a-pothole"}]
    (msg,) = rasa.messages
    assert msg.sender_id == "web:3f2b9c1e-1111-4222-8333-444455556666"
    assert msg.input_channel == "webchat"
    assert msg.metadata == {"channel": "webchat", "origin": "private"}


def test_buttons_are_returned_with_title_and_payload(kb_url: str) -> None:
    rasa = Recorder(({"text": "Which?", "buttons": [{"title": "Missed bin", "payload": "/svc_bins_missed"}]},))
    assert post(rasa, {"sender": "abc", "message": "bins"})[1] == [
        {"text": "Which?", "buttons": [{"title": "Missed bin", "payload": "/svc_bins_missed"}]}
    ]


def test_empty_message_is_answered_without_rasa() -> None:
    rasa = Recorder()
    assert post(rasa, {"sender": "abc", "message": " \u200b "}) == (200, [{"text": EMPTY_REPLY}])
    assert not rasa.messages


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        {"sender": "a b", "message": "hi"},
        {"sender": "abc"},
        {"sender": "abc", "message": "hi", "metadata": []},
    ],
)
def test_bad_requests_get_400_with_a_reason(payload: object) -> None:
    rasa = Recorder()
    status, body = post(rasa, payload)
    assert status == 400 and isinstance(body["error"], str)
    assert not rasa.messages


def test_failures_answer_with_the_phone_number_without_a_trace_or_the_text(
    kb_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = post(Recorder(error=RuntimeError("boom")), {"sender": "abc", "message": "secret words"})
    assert status == 200 and "0300 123 4567" in body[0]["text"] and "try again" in body[0]["text"]
    status, body = post(Recorder(error=asyncio.CancelledError()), {"sender": "abd", "message": "secret words"})
    assert status == 200 and "0300 123 4567" in body[0]["text"]
    assert "webchat webhook failed" in caplog.text and "webchat webhook timed out" in caplog.text
    assert "secret words" not in caplog.text and "Traceback" not in json.dumps(body)


def test_the_page_refuses_a_large_photo_in_the_servers_words() -> None:
    from knowledge.answers import photo_too_large

    worded = photo_too_large(10 * 1024 * 1024)
    assert worded.endswith(" 10 MB.")
    assert f'photoTooLarge: "{worded.removesuffix("10 MB.")}"' in JS_CODE
