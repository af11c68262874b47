"""Rasa pipeline step that cleans text before tokenising (see knowledge.understanding.text.clean_text)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.understanding.text import clean_text


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class TextCleaner(GraphComponent):
    """Removes invisible characters and normalises look-alike letters, in training and at run time alike,
    so "pot\u200bhole" and "ｐｏｔｈｏｌｅ" read as "pothole"."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextCleaner:
        return cls()

    def _clean(self, message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str):
            cleaned = clean_text(text)
            # Rasa's tokenizers need at least one character; keep the original if cleaning emptied it.
            message.set(TEXT, cleaned or text)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._clean(message)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._clean(message)
        return messages
