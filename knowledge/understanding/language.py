"""Is a message written in Welsh? Word lists, not a model: Welsh has many words no English message uses.

The bot answers in English only; a Welsh message is recognised and answered honestly in both languages
(answers.welsh_answer) instead of being misread as some English service question.
"""

from __future__ import annotations

import re

from knowledge.understanding.text import clean_text

# Common Welsh words that are not also common English words (mutated forms included).
WELSH_WORDS = frozenset("""
yn yr mae maen fy fyn ein eich eu dw dwi rwy rydw rydyn ydw ydy ydych oes nid ddim dim efo gyda gydag
gyda'r i'r o'r a'r yw ydi wyt roedd bydd fydd fyddai gallu gallwch gallaf allwch allaf galla helo shwmae
sumae su'mae diolch bore prynhawn noswaith nos da pryd ble lle beth be sut pam faint pwy pa os gwelwch
dda plis hefyd ond neu wedi heddiw yfory ddoe wythnos nesaf tŷ ty nhŷ nhy ffordd stryd heol mewn gan gen
cyngor treth ysgol ysgolion biniau bin sbwriel casglu gasglu casgliad ailgylchu gymraeg cymraeg saesneg
angen eisiau isio moyn hoffwn licien siarad rhywun rhaid help helpu cymorth plant plentyn mam dad
teulu gwastraff gardd bws tocyn parcio ffurflen cais gwneud talu dalu arian budd-daliadau budd tai tŷ'r
fy'n dwi'n mae'r ydy'r oes 'na yna yma hwn hon hyn rhain chi ti fi ni nhw ei
""".split())
# English words that Welsh text rarely contains: a message full of these is English with a Welsh name.
ENGLISH_WORDS = frozenset("""
the and is are was my your you to of for it this that what when where how can could would please have has
not no bin bins council tax there they we he she with on at from be do does did will just
""".split())
_TOKEN = re.compile(r"[a-zâêîôûŵŷäëïöüẅÿáéíóúẃýàèìòùẁỳ'’-]+")


def tokens(text: str) -> list[str]:
    return [t.strip("'’-") for t in _TOKEN.findall(clean_text(text).lower()) if t.strip("'’-")]


def looks_welsh(text: str) -> bool:
    """True if the message reads as Welsh: mostly Welsh words, or asks for Welsh by name."""
    words = tokens(text)
    if not words:
        return False
    if any(w in ("cymraeg", "gymraeg") for w in words):
        return True
    welsh = sum(w in WELSH_WORDS or any(c in w for c in "ŵŷâ") for w in words)
    english = sum(w in ENGLISH_WORDS for w in words)
    if len(words) <= 3:
        # A word or two: only a distinctly Welsh one counts ("diolch", "bore da"; not "da" or "yn").
        return english == 0 and welsh >= len(words) - 1 and any(w in WELSH_WORDS and len(w) >= 4 for w in words)
    return welsh >= 2 and welsh > 1.5 * english and welsh / len(words) >= 0.35
