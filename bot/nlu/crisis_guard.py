"""Rasa NLU component that forces the `crisis` intent when the safety net matches.

It runs last in the pipeline (after FallbackClassifier), so neither a low-confidence
fallback nor a wrong classifier guess can hide a crisis. Dialogue rules then answer
`crisis` with the 911/988 reply wherever the conversation is.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
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

from bot.safety.crisis import CrisisDetector, detector_from
from bot.settings import load_settings

logger = logging.getLogger(__name__)

CRISIS_INTENT = "crisis"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisGuard(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # An empty path means "the one the settings module names".
        return {"patterns_path": ""}

    def __init__(self, detector: CrisisDetector) -> None:
        self._detector = detector

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CrisisGuard":
        path = Path(config.get("patterns_path") or load_settings().crisis_patterns_path)
        return cls(detector_from(path))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            match = self._detector.detect(message.get(TEXT))
            if match is None:
                continue
            # Log the category only: message text is PHI and never reaches the logs.
            logger.info("crisis safety net matched: category=%s", match.category)
            crisis = {INTENT_NAME_KEY: CRISIS_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            ranking = [
                entry
                for entry in message.get(INTENT_RANKING_KEY) or []
                if entry.get(INTENT_NAME_KEY) != CRISIS_INTENT
            ]
            message.set(INTENT, crisis, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [crisis, *ranking], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
