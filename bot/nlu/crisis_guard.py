"""Rasa NLU component that forces the `crisis` intent when the safety net matches.

It runs last in the pipeline (after FallbackClassifier and LanguageGuard), so neither a
low-confidence fallback, a wrong classifier guess nor a message in another language can hide
a crisis. CrisisPolicy then answers `crisis` with the 911/988 reply wherever the conversation
is, in the message's language: the language LanguageGuard saw, else that of the patterns that
matched (bot/safety/patterns/<language>.yml).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.intent_override import IntentOverride, force_intent
from bot.nlu.language_guard import LANGUAGE_GUESS, tag_language
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

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            match = self._detector.detect(message.get(TEXT))
            if match is None:
                continue
            # Category and language only: message text is PHI and never reaches the logs.
            logger.info("crisis safety net matched: category=%s language=%s",
                        match.category, match.language)
            force_intent(message, CRISIS_INTENT)
            tag_language(message, message.get(LANGUAGE_GUESS) or match.language)
        return messages
