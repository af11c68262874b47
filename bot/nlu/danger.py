"""Rasa pipeline step: the danger net (knowledge/danger), last in the pipeline so it overrides everything.

- The reviewed lexicon or the danger classifier (at its alarm threshold) finds danger: the intent becomes
  `crisis` (confidence 1.0) and the parse data carries `danger` (kind, score, which layer), so
  action_crisis leads with the line for that kind. The classifier's ranking is kept below it, for a
  service question asked in the same message.
- The classifier is uneasy (its caution threshold, chosen for recall) but not sure: the intent stands and
  `danger` says `urgent: false`; the ordinary answer then ends with 999 and Samaritans, and no case opens.
- Neither finds danger but the service classifier guessed `crisis`: the guess is dropped for its next
  best. Only the danger net opens urgent cases, so "can I get a discount" never does.

The classifier trains with the rest of the model (data/danger plus every ordinary training message as a
negative) and is stored inside the model archive, so a retrained model swaps in with its own danger net.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.danger.classifier import DangerClassifier, load_examples
from knowledge.danger.kinds import NOT_DANGER, Danger, DangerKind
from knowledge.danger.lexicon import default_lexicon
from knowledge.settings import PROJECT_ROOT
from knowledge.understanding.language import looks_welsh

log = logging.getLogger(__name__)

CRISIS_INTENT = "crisis"
DANGER_KEY = "danger"
MODEL_FILE = "danger.joblib"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class DangerNet(GraphComponent):
    """Sets intent `crisis` and `danger` on any message the danger net flags; drops unbacked `crisis`."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"data_dir": "data/danger", "calibrate": True}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        classifier: Optional[DangerClassifier] = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._classifier = classifier
        self._lexicon = default_lexicon()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DangerNet:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = load_examples(PROJECT_ROOT / self._config["data_dir"])
        ordinary = {
            m.get(TEXT) for m in training_data.intent_examples if m.get(INTENT) != CRISIS_INTENT and m.get(TEXT)
        }
        examples += [(t, NOT_DANGER) for t in sorted(ordinary)]
        self._classifier = DangerClassifier.train(examples, calibrate=bool(self._config["calibrate"]))
        cal = self._classifier.calibration
        if cal is not None:
            log.info(
                "danger net: caution %.3f (held-out recall %.2f%%), alarm %.3f (false alarms %.2f%%); "
                "%d dangers, %d ordinary",
                cal.caution,
                100 * cal.recall,
                cal.alarm,
                100 * cal.false_alarm_rate,
                cal.dangers,
                cal.ordinary,
            )
        with self._storage.write_to(self._resource) as directory:
            joblib.dump(self._classifier, Path(directory) / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DangerNet:
        try:
            with model_storage.read_from(resource) as directory:
                classifier = joblib.load(Path(directory) / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            log.error("danger classifier missing from the model; the reviewed lexicon alone will decide")
            classifier = None
        return cls(config, model_storage, resource, classifier)

    def assess(self, text: str) -> Optional[Danger]:
        """The lexicon decides *whether* when it matches; the classifier, trained on thousands of labelled
        dangers, names the kind better (measured on held-out examples), so its kind is used when it agrees
        there is danger."""
        found = self._lexicon.match(text)
        model = self._classifier.assess(text) if self._classifier is not None else None
        if found is not None:
            return Danger(model.kind, 1.0, "lexicon", found.matched) if model is not None else found
        return model

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != CRISIS_INTENT]
            try:
                found = self.assess(text)
            except Exception:  # noqa: BLE001 - a failure here must lean towards help, not silence
                log.error("danger net failed; treating the message as possibly urgent", exc_info=True)
                found = Danger(DangerKind.UNKNOWN, 1.0, "failure")
            if found is not None and found.source == "model" and looks_welsh(text):
                # The classifier learned from English above all: in Welsh only the lexicon (which has Welsh
                # words) is sure. The Welsh answer then carries 999 and Samaritans.
                found = replace(found, urgent=False)
            if found is not None and not found.urgent:
                # Uneasy, not sure: the ordinary answer, with 999 and Samaritans added (actions/common.py).
                message.set(DANGER_KEY, found.as_dict(), add_to_output=True)
                if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == CRISIS_INTENT:
                    _drop_crisis_guess(message, ranking)
            elif found is not None:
                top = {INTENT_NAME_KEY: CRISIS_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, top, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [top] + ranking, add_to_output=True)
                message.set(DANGER_KEY, found.as_dict(), add_to_output=True)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == CRISIS_INTENT:
                _drop_crisis_guess(message, ranking)  # the service classifier's guess, not backed
        return messages


def _drop_crisis_guess(message: Message, ranking: list[dict[str, Any]]) -> None:
    """Replace a `crisis` intent the danger net doesn't back with the classifier's next best."""
    best = ranking[0] if ranking else {INTENT_NAME_KEY: "nlu_fallback", PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, best, add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
