"""The danger classifier: a model of its own, trained on data/danger, that errs towards recall.

Word and character n-grams (so text speak, typos and run-together words still look like what they mean)
into a logistic regression over ten classes: the nine kinds of danger and `none`. A message's danger score
is 1 - P(none); its kind is the likeliest kind. Two thresholds, both chosen on out-of-fold scores (every
training example scored by a model that never saw it):
- `caution`, chosen for recall: the score that catches RECALL_TARGET of held-out dangers. A message at or
  above it always gets 999 and Samaritans (at the end of its ordinary answer).
- `alarm`: the score that only ALARM_FALSE_RATE of held-out ordinary messages reach. At or above it the
  message is answered as danger (the line for its kind first) and an urgent case opens.
Measured on held-out data, a bag of n-grams can't have both every danger and almost no false alarm in one
threshold (`councilbot eval` prints the figures); two tiers keep the urgent path for real danger while
nobody uneasy goes without the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from knowledge.danger.kinds import NOT_DANGER, Danger, DangerKind
from knowledge.danger.lexicon import normalise
from knowledge.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "data" / "danger"
SEED = 7
RECALL_TARGET = 0.995  # share of held-out dangers the caution threshold must catch
ALARM_FALSE_RATE = 0.01  # share of held-out ordinary messages allowed to reach the alarm threshold


def load_examples(data_dir: Path = DATA_DIR) -> list[tuple[str, str]]:
    """(text, label) pairs from data/danger: `danger:` maps kind -> texts; `not_danger:` lists texts."""
    pairs: list[tuple[str, str]] = []
    for path in sorted(data_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for kind, texts in (doc.get("danger") or {}).items():
            label = DangerKind(kind).value
            pairs += [(str(t), label) for t in texts or [] if str(t).strip()]
        pairs += [(str(t), NOT_DANGER) for t in doc.get("not_danger") or [] if str(t).strip()]
    return pairs


def _pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    preprocessor=normalise,
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=2,
                    sublinear_tf=True,
                    max_features=60_000,
                ),
            ),
        ]
    )
    # No class weights: on held-out data they raised false alarms more than they raised recall; the
    # thresholds below do the weighting, on scores that keep their order.
    model = LogisticRegression(C=8.0, max_iter=2000, random_state=SEED)
    return Pipeline([("features", features), ("model", model)])


@dataclass
class Calibration:
    """How the thresholds were chosen, and what they do, on out-of-fold scores (classifier alone; the
    lexicon catches more)."""

    caution: float
    alarm: float
    dangers: int
    ordinary: int
    recall: float  # held-out dangers at or above `caution`
    alarm_recall: float  # held-out dangers at or above `alarm`
    caution_rate: float  # held-out ordinary messages at or above `caution` (given the numbers)
    false_alarm_rate: float  # held-out ordinary messages at or above `alarm` (answered as danger)
    missed: list[str] = field(default_factory=list)  # held-out dangers below `caution` (for review)


class DangerClassifier:
    """Trained model plus its threshold."""

    def __init__(self, pipeline, caution: float, alarm: float, calibration: Optional[Calibration] = None):
        self.pipeline = pipeline
        self.caution, self.alarm = caution, max(alarm, caution)
        self.calibration = calibration
        classes = list(pipeline.classes_)
        self._none = classes.index(NOT_DANGER)
        self._classes = classes

    @classmethod
    def train(cls, examples: Sequence[tuple[str, str]], calibrate: bool = True, folds: int = 3) -> DangerClassifier:
        texts = [t for t, _ in examples]
        labels = [y for _, y in examples]
        if NOT_DANGER not in labels or len(set(labels)) < 2:
            raise ValueError("danger classifier needs dangers and ordinary messages to learn from")
        calibration = _calibrate(texts, labels, folds) if calibrate else None
        pipeline = _pipeline().fit(texts, labels)
        if calibration is None:  # only for quick experiments: fixed thresholds
            return cls(pipeline, 0.1, 0.5)
        return cls(pipeline, calibration.caution, calibration.alarm, calibration)

    def scores(self, texts: Iterable[str]) -> list[tuple[float, DangerKind]]:
        """(danger score, likeliest kind) per text."""
        out = []
        for row in self.pipeline.predict_proba(list(texts)):
            kinds = [(p, c) for p, c in zip(row, self._classes, strict=True) if c != NOT_DANGER]
            best = max(kinds)
            out.append((float(1.0 - row[self._none]), DangerKind(best[1])))
        return out

    def assess(self, text: str) -> Optional[Danger]:
        """A finding if the text's danger score reaches the caution threshold (urgent if the alarm one)."""
        if not text or not text.strip():
            return None
        score, kind = self.scores([text])[0]
        if score < self.caution:
            return None
        return Danger(kind, float(score), "model", urgent=bool(score >= self.alarm))


def _calibrate(texts: list[str], labels: list[str], folds: int) -> Calibration:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    # Folds in parallel on two cores: the calibration is most of the danger net's training time.
    proba = cross_val_predict(_pipeline(), texts, labels, cv=splitter, method="predict_proba", n_jobs=2)
    classes = sorted(set(labels))
    none = classes.index(NOT_DANGER)
    danger_scores = [1.0 - row[none] for row in proba]
    pos = sorted((s, t) for s, t, y in zip(danger_scores, texts, labels, strict=True) if y != NOT_DANGER)
    neg = sorted(s for s, y in zip(danger_scores, labels, strict=True) if y == NOT_DANGER)
    caution = pos[int((1 - RECALL_TARGET) * len(pos))][0]
    alarm = max(caution, neg[min(len(neg) - 1, int((1 - ALARM_FALSE_RATE) * len(neg)))])
    return Calibration(
        caution=round(caution, 4),
        alarm=round(alarm, 4),
        dangers=len(pos),
        ordinary=len(neg),
        recall=round(sum(s >= caution for s, _ in pos) / len(pos), 4),
        alarm_recall=round(sum(s >= alarm for s, _ in pos) / len(pos), 4),
        caution_rate=round(sum(s >= caution for s in neg) / len(neg), 4),
        false_alarm_rate=round(sum(s >= alarm for s in neg) / len(neg), 4),
        missed=[t for s, t in pos if s < caution],
    )
