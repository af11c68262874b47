"""The held-out evaluation files (tests/data/eval/, written without sight of the training data) and what
counts as a right reply to each message.

- messages.yml: single messages, each with `expect` (a service key, `redirect:<key>`, `out_of_scope` or
  `welsh`) and `kinds` (plain, ramble, near_miss, indirect, angry, regional, caps, text_speak, ...).
- danger.yml: `danger` (text, kind) and `not_danger` (hard negatives, with an `expect` or `none`).
- conversations.yml: short conversations whose later turns lean on the earlier ones; each turn has an
  `expect` and, for a question about cost, eligibility or timing, an `aspect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import yaml
from sqlalchemy.orm import Session

from knowledge import answers
from knowledge.danger.kinds import DangerKind
from knowledge.models import Service
from knowledge.settings import PROJECT_ROOT
from knowledge.understanding.followups import Aspect

EVAL_DIR = PROJECT_ROOT / "tests" / "data" / "eval"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((EVAL_DIR / name).read_text(encoding="utf-8")) or {}


@dataclass
class Judge:
    """Decides whether a reply is right, from the knowledge base the bot answers from."""

    session: Session

    def danger_leads(self) -> dict[DangerKind, str]:
        """The first line of the danger answer for each kind: a reply that has one raised the alarm."""
        c = answers.council(self.session)
        return {k: answers.danger_answer(c, k).text.splitlines()[0] for k in DangerKind}

    def alarmed(self, reply: str) -> bool:
        """Answered as danger: a danger answer's first line is in the reply."""
        return any(lead in reply for lead in self.danger_leads().values())

    def cautioned(self, reply: str) -> bool:
        """The ordinary answer with the numbers added (the danger net uneasy, not sure)."""
        return answers.caution_line(answers.council(self.session)) in reply

    def numbers_given(self, reply: str) -> bool:
        return self.alarmed(reply) or self.cautioned(reply)

    def right_line(self, kind: DangerKind, reply: str) -> bool:
        """Does the reply lead with the line for this kind of danger?"""
        first = reply.split("\n", 1)[0]
        return first == self.danger_leads()[kind]

    def service_urls(self) -> list[str]:
        return [s.url for s in self.session.query(Service).filter(Service.active.is_(True))]

    def right(self, expect: str, reply: str, aspect: Optional[str] = None) -> bool:
        """Is `reply` a right answer to a message labelled `expect` (and asking about `aspect`)?"""
        if self.alarmed(reply):
            return False  # an ordinary message answered as danger is wrong, whatever else it says
        if expect == "none":
            return True  # a hard negative with no council question: right if no alarm was raised
        if expect == "out_of_scope":
            return not any(url in reply for url in self.service_urls())
        if expect == "welsh":
            return "Gymraeg" in reply
        if expect.startswith("redirect:"):
            r = answers.redirect(self.session, expect.split(":", 1)[1])
            if r is None:
                raise KeyError(f"unknown redirect in the evaluation file: {expect}")
            return bool((r.url and r.url in reply) or (r.phone and r.phone in reply))
        svc = answers.service(self.session, expect)
        if svc is None:
            raise KeyError(f"unknown service in the evaluation file: {expect}")
        if svc.url not in reply:
            return False
        if aspect:
            detail = getattr(svc, Aspect(aspect).value, None)
            return isinstance(detail, str) and bool(detail) and detail.strip()[:40] in reply
        return True
