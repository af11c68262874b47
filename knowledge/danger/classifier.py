"""The danger classifier: a model of its own, trained on data/danger, that errs towards recall.

Word and character n-grams (so text speak, typos and run-together words still look like what they mean)
into a logistic regression over ten classes: the nine kinds of danger and `none`. A message's danger score
is 1 - P(none); its kind is the likeliest kind. The threshold is chosen on out-of-fold scores (every
training example scored by a model that never saw it), as the highest that still catches every held-out
danger, with a margin, and never below a floor that keeps false alarms sane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

import yaml

from knowledge.danger.kinds import NOT_DANGER, Danger, DangerKind
from knowledge.danger.lexicon import normalise
from knowledge.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "data" / "danger"
SEED = 7
# The threshold is the lowest held-out danger's score times this margin: new wordings score a little
# lower than anything seen, and recall comes first.
MARGIN = 0.8
# ... but never lower than this (below it, ordinary angry messages start to alarm).
FLOOR = 0.08


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
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.feature_extraction.text import TfidfVectorizer

    features = FeatureUnion([
        ("words", TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
        ("chars", TfidfVectorizer(preprocessor=normalise, analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                  sublinear_tf=True, max_features=150_000)),
    ])
    # class_weight balanced: dangers are a minority of what the model sees, but the class that matters.
    model = LogisticRegression(C=8.0, max_iter=2000, class_weight="balanced", random_state=SEED)
    return Pipeline([("features", features), ("model", model)])


@dataclass
class Calibration:
    """How the threshold was chosen, on out-of-fold scores."""

    threshold: float
    dangers: int
    ordinary: int
    recall: float
    false_alarm_rate: float
    missed: list[str] = field(default_factory=list)   # held-out dangers below the threshold (for review)


class DangerClassifier:
    """Trained model plus its threshold."""

    def __init__(self, pipeline, threshold: float, calibration: Optional[Calibration] = None):
        self.pipeline = pipeline
        self.threshold = threshold
        self.calibration = calibration
        classes = list(pipeline.classes_)
        self._none = classes.index(NOT_DANGER)
        self._classes = classes

    @classmethod
    def train(cls, examples: Sequence[tuple[str, str]], calibrate: bool = True, folds: int = 3) -> "DangerClassifier":
        texts = [t for t, _ in examples]
        labels = [y for _, y in examples]
        if NOT_DANGER not in labels or len(set(labels)) < 2:
            raise ValueError("danger classifier needs dangers and ordinary messages to learn from")
        calibration = _calibrate(texts, labels, folds) if calibrate else None
        pipeline = _pipeline().fit(texts, labels)
        threshold = calibration.threshold if calibration else FLOOR
        return cls(pipeline, threshold, calibration)

    def scores(self, texts: Iterable[str]) -> list[tuple[float, DangerKind]]:
        """(danger score, likeliest kind) per text."""
        out = []
        for row in self.pipeline.predict_proba(list(texts)):
            kinds = [(p, c) for p, c in zip(row, self._classes) if c != NOT_DANGER]
            best = max(kinds)
            out.append((float(1.0 - row[self._none]), DangerKind(best[1])))
        return out

    def assess(self, text: str) -> Optional[Danger]:
        """A finding if the text's danger score reaches the threshold."""
        if not text or not text.strip():
            return None
        score, kind = self.scores([text])[0]
        return Danger(kind, score, "model") if score >= self.threshold else None


def _calibrate(texts: list[str], labels: list[str], folds: int) -> Calibration:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    proba = cross_val_predict(_pipeline(), texts, labels, cv=splitter, method="predict_proba")
    classes = sorted(set(labels))
    none = classes.index(NOT_DANGER)
    danger_scores = [1.0 - row[none] for row in proba]
    pos = [(s, t) for s, t, y in zip(danger_scores, texts, labels) if y != NOT_DANGER]
    neg = [s for s, y in zip(danger_scores, labels) if y == NOT_DANGER]
    threshold = max(FLOOR, min(s for s, _ in pos) * MARGIN)
    caught = sum(s >= threshold for s, _ in pos)
    return Calibration(
        threshold=round(threshold, 4), dangers=len(pos), ordinary=len(neg),
        recall=round(caught / len(pos), 4), false_alarm_rate=round(sum(s >= threshold for s in neg) / len(neg), 4),
        missed=[t for s, t in pos if s < threshold])
