"""Rasa NLU component: a message clearly in another language gets `other_language`.

The assistant answers in English for now. A message in a language listed in bot/language/
(Spanish so far) is tagged with a `language` entity, which fills the `language` slot, and
gets the intent `other_language`, answered with one short line in that language on how to
reach a person; or `request_human` when it asks for one ("consejero"). Replies with a
variation for the slot's value (the crisis reply included) then come in that language.

It runs after the classifiers and NoWordsGuard and before CrisisGuard, which still turns a
crisis in any language into `crisis`. The classifier is never trusted alone with
`other_language`: without a single word of the language it becomes a fallback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.language.detection import (
    DOMAIN_LANGUAGE,
    guess_language,
    language_asking_for_a_person,
    language_with_some_evidence,
    load_profiles,
)
from bot.nlu.intent_override import IntentOverride, force_intent
from bot.safety.crisis import CRISIS_INTENT
from bot.settings import BOT_DIR

OTHER_LANGUAGE_INTENT = "other_language"
REQUEST_HUMAN_INTENT = "request_human"
# The entity (and slot) that carries the language; set only for languages other than the
# domain's own, so English messages keep the entity list empty (and `rasa test` stories
# need no annotation). The slot's from_intent mapping switches back to English.
LANGUAGE_ENTITY = "language"
# Where the guess is left for CrisisGuard, which answers a crisis in the message's language.
LANGUAGE_GUESS = "language_guess"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class LanguageGuard(IntentOverride):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # An empty path means bot/language/.
        return {"languages_path": ""}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._profiles = load_profiles(Path(config.get("languages_path") or BOT_DIR / "language"))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            language = guess_language(text, self._profiles)
            message.set(LANGUAGE_GUESS, language)
            wants_a_person = language_asking_for_a_person(text, self._profiles)
            classified_as = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if classified_as == CRISIS_INTENT:
                # Never talked out of a crisis: only the reply's language is ours to set.
                tag_language(message, language or wants_a_person or DOMAIN_LANGUAGE)
            elif wants_a_person and language in (None, wants_a_person):
                force_intent(message, REQUEST_HUMAN_INTENT)
                tag_language(message, wants_a_person)
            elif language is not None and language != DOMAIN_LANGUAGE:
                force_intent(message, OTHER_LANGUAGE_INTENT)
                tag_language(message, language)
            elif classified_as == OTHER_LANGUAGE_INTENT:
                # The classifier's guess stands only with some of the language's words in it.
                backed_by = language_with_some_evidence(text, self._profiles)
                if backed_by is None:
                    force_intent(message, DEFAULT_NLU_FALLBACK_INTENT_NAME)
                else:
                    tag_language(message, backed_by)
        return messages


def tag_language(message: Message, language: str) -> None:
    """Adds the `language` entity, once, for a language other than the domain's own."""
    entities = message.get(ENTITIES) or []
    if language == DOMAIN_LANGUAGE or any(
        entity.get(ENTITY_ATTRIBUTE_TYPE) == LANGUAGE_ENTITY for entity in entities
    ):
        return
    text = message.get(TEXT) or ""
    entity = {
        ENTITY_ATTRIBUTE_TYPE: LANGUAGE_ENTITY,
        ENTITY_ATTRIBUTE_VALUE: language,
        # The whole message is the evidence.
        ENTITY_ATTRIBUTE_START: 0,
        ENTITY_ATTRIBUTE_END: len(text),
        EXTRACTOR: LanguageGuard.__name__,
    }
    message.set(ENTITIES, [*entities, entity], add_to_output=True)
