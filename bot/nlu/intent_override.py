"""Base for NLU components that overrule the classifier with a fixed intent.

Such a component sits after the classifiers, needs no training, and for each message either
leaves the prediction alone or replaces it with one intent at full confidence.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


class IntentOverride(GraphComponent, IntentClassifier):
    def __init__(self, config: dict[str, Any]) -> None:
        self.component_config = config

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentOverride:
        return cls(config)

    def intent_to_force(self, text: str | None) -> str | None:
        """The intent this message must have, or None to keep the classifier's."""
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = self.intent_to_force(message.get(TEXT))
            if intent is not None:
                force_intent(message, intent)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


def force_intent(message: Message, intent: str) -> None:
    """Gives the message `intent` at full confidence, above the classifier's guesses."""
    forced = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
    # Keep the classifier's other guesses below it: the fallback ladder reads them.
    ranking = [
        entry
        for entry in message.get(INTENT_RANKING_KEY) or []
        if entry.get(INTENT_NAME_KEY) != intent
    ]
    message.set(INTENT, forced, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [forced, *ranking], add_to_output=True)
