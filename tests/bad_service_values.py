"""Bad values for a service that every entry point must refuse in the same words: the YAML load and CSV
import (tests/knowledge/test_service_schema.py) and the editor's form (tests/bot/test_console_editor.py).
Each is (field, bad value, the schema's message), for the seed service `KEY`."""

from __future__ import annotations

KEY = "roads.pothole"
# The seed council's allowed sites, as the message lists them.
ALLOWED = (
    "northshire.gov.uk, nhs.uk, police.uk, gov.uk, nationalhighways.co.uk, northshirewater.co.uk, citizensadvice.org.uk"
)
LONG_URL = "https://www.northshire.gov.uk/roads/" + "a" * 629  # 665 characters; the column holds 500
LONG_TITLE = "Report a pothole " + "x" * 233  # 250 characters; the column holds 200

BAD = [
    (
        "title",
        "Report a \u202eelohtop",
        "title has a control character (U+202E) at character 10; retype that part of the text",
    ),
    (
        "title",
        "Report a\u200b pothole",
        "title has a control character (U+200B) at character 9; retype that part of the text",
    ),
    ("title", LONG_TITLE, "title is 250 characters; keep it under 200"),
    ("url", LONG_URL, "url is 665 characters; keep it under 500"),
    (
        "url",
        "https://evil.example.com/potholes",
        f"url 'https://evil.example.com/potholes' is not on an allowed site ({ALLOWED})",
    ),
]
IDS = ["direction-override-in-title", "zero-width-space-in-title", "long-title", "665-character-url", "off-site-url"]
