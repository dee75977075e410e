"""Rasa NLU component: a message with no words (empty, spaces, emoji only) is a fallback.

The classifier always guesses something, and a guess of "yes" for an empty SMS or a
thumbs-up would send the person down a path they never chose.
"""
from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME

from bot.fallback_ladder import has_words
from bot.nlu.intent_override import IntentOverride


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class NoWordsGuard(IntentOverride):
    def intent_to_force(self, text: str | None) -> str | None:
        return None if has_words(text) else DEFAULT_NLU_FALLBACK_INTENT_NAME
