"""Signing in to the staff console in headless Chromium: by the form's labels, with the keyboard, at
desktop and phone widths, with the real console process over a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.bot.console_helpers import PASSWORD, make_db, running_console

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
SMALLEST = {"width": 320, "height": 568}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("console-browser")
    with running_console(make_db(tmp), tmp / "console.log") as url:
        yield url


@pytest.fixture
def open_page(browser: Browser) -> Iterator:
    """Opens a fresh browser context at a viewport; fails the test if any page logged an error (a CSP
    violation or a failed request would)."""
    contexts = []
    errors: list[str] = []

    def open_at(url: str, viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        return page

    open_at.errors = errors  # type: ignore[attr-defined]  # a test may remove an error it caused on purpose
    yield open_at
    for context in contexts:
        context.close()
    assert errors == []


def sign_in(page: Page, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def nav_links(page: Page) -> list[str]:
    return page.get_by_role("navigation", name="Console").get_by_role("link").all_inner_texts()


def test_admin_signs_in_through_the_form_and_sees_every_area(base: str, open_page) -> None:
    page = open_page(f"{base}/admin/users")
    expect(page).to_have_url(f"{base}/login?next=%2Fadmin%2Fusers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    sign_in(page, "admin")
    expect(page).to_have_url(f"{base}/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    assert nav_links(page) == ["Cases", "Reports", "Figures", "Content", "Users"]
    expect(page.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("Signed in as")).to_contain_text("Ada Admin")
    page.get_by_role("link", name="Cases").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login")


def test_wrong_password_shows_the_problem(base: str, open_page) -> None:
    page = open_page(f"{base}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("We couldn't sign you in")
    expect(page).to_have_title("Error: Sign in – Staff console")  # said first, for screen readers


def test_agent_does_not_see_users_or_content(base: str, open_page) -> None:
    page = open_page(f"{base}/login")
    sign_in(page, "agent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    assert nav_links(page) == ["Cases", "Reports", "Figures"]
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.goto(f"{base}/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("You can't use this page")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    # Chromium logs the 403 it was just shown; that one is this test's point, not a fault.
    open_page.errors[:] = [e for e in open_page.errors if "status of 403" not in e]


def focus_style(page: Page) -> dict[str, str]:
    return page.evaluate("""() => {
        const s = getComputedStyle(document.activeElement);
        return {tag: document.activeElement.tagName, id: document.activeElement.id,
                text: document.activeElement.textContent.trim(), outline: s.outlineStyle,
                width: s.outlineWidth, shadow: s.boxShadow};
    }""")


def test_keyboard_focus_is_visible_from_the_skip_link_to_the_form(base: str, open_page) -> None:
    page = open_page(f"{base}/login")
    page.keyboard.press("Tab")
    skip = focus_style(page)
    assert skip["text"] == "Skip to main content"
    assert skip["outline"] != "none" and skip["width"] != "0px" and skip["shadow"] != "none"
    expect(page.get_by_role("link", name="Skip to main content")).to_be_in_viewport()
    for expected in ("username", "password"):
        page.keyboard.press("Tab")
        while focus_style(page)["tag"] not in ("INPUT",):  # past the brand link
            page.keyboard.press("Tab")
        style = focus_style(page)
        assert style["id"] == expected
        assert style["outline"] != "none" and style["width"] != "0px"
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")  # the form submits from the keyboard
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")


def test_the_console_fits_the_narrowest_phone(base: str, open_page) -> None:
    page = open_page(f"{base}/login", SMALLEST)
    sign_in(page, "admin")
    for path in ("/", "/admin/users"):
        page.goto(f"{base}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, path
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
