"""Rasa NLU component that forces the `crisis` intent when the safety net matches.

It runs last in the pipeline (after FallbackClassifier), so neither a low-confidence
fallback nor a wrong classifier guess can hide a crisis. CrisisPolicy then answers
`crisis` with the 911/988 reply wherever the conversation is.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from bot.nlu.intent_override import IntentOverride
from bot.safety.crisis import CRISIS_INTENT, detector_from
from bot.settings import load_settings

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CrisisGuard(IntentOverride):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # An empty path means "the one the settings module names".
        return {"patterns_path": ""}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        path = Path(config.get("patterns_path") or load_settings().crisis_patterns_path)
        self._detector = detector_from(path)

    def intent_to_force(self, text: str | None) -> str | None:
        match = self._detector.detect(text)
        if match is None:
            return None
        # The category only: message text is PHI and never reaches the logs.
        logger.info("crisis safety net matched: category=%s", match.category)
        return CRISIS_INTENT
