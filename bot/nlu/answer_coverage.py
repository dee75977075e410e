"""Rasa NLU component: a question no FAQ topic really covers gets "I don't know", not the
nearest canned answer.

The classifiers always pick some topic, so "do you offer acupuncture" was answered with
what happens in groups. Here the picked topic must have a training example close in
meaning to the question (the sentence encoder's cosine similarity to the topic's nearest
example). The question is turned away, as `question_not_covered`, when
- that similarity is below the topic's bar and either the classifiers were unsure
  (blended confidence below `sure_above`) or a known unanswerable question
  (bot/data/nlu/not_covered.yml) is about as close (within `unanswerable_margin`); or
- a known unanswerable question is clearly closer than any example of the topic (by more
  than `unanswerable_lead`).
The bar is `min_similarity`, or lower for a topic whose own examples sit far from each
other (`spread_quantile`, never below `similarity_floor`): a topic asked about in many
different ways ("do you treat gambling", "what about an eating disorder") cannot expect a
new question to come as close to one of its examples as a topic asked about in one way.
The assistant then says it doesn't have a reliable answer and offers a counselor. A topic
may name a lookup list of its key terms (`key_terms`): a question using one of them is
about that topic whatever the similarity, as "do u take bcbs" names a plan and the
insurance answer says whether that plan is accepted.

Why similarity and not confidence alone: confidence says which topic is likelier than the
others, not whether any of them is about the question; "do you have a chaplain" was 94%
support groups. Why not similarity alone: a short, plain paraphrase ("is bcbs accepted
there") can sit far from every example while the classifiers are rightly sure. `make
nlu-report` replays the thresholds and shows what each costs in right answers.

It runs after FallbackClassifier (a fallback is left to the fallback ladder) and before the
no-words, language and crisis guards, which can still overrule it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.lookup_features import lookup_lists, lookup_pattern
from bot.nlu.sentence_encoder import ModelFilesError, default_encoder
from bot.nlu.topic_second_opinion import classifier_text

logger = logging.getLogger(__name__)

NOT_COVERED_INTENT = "question_not_covered"
# What the parse result carries for tuning: the topic judged and its nearest example's
# similarity (numbers only, never text).
COVERAGE_KEY = "answer_coverage"
VECTORS_FILE = "topic_example_vectors.npz"
KEY_TERMS_FILE = "topic_key_terms.json"
SPREAD_FILE = "topic_spread.json"
# Intents a message naming a key term is taken back from: the fallback, "not covered" and
# off the subject are all guesses that the named term contradicts.
_RESCUABLE_INTENTS = frozenset({"nlu_fallback", NOT_COVERED_INTENT, "out_of_scope"})
# Where the unanswerable examples' vectors are kept beside the topics'.
UNANSWERABLE = "unanswerable"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class AnswerCoverage(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # The retrieval intent whose topics are checked.
            "retrieval_intent": "faq",
            # Cosine similarity to the picked topic's nearest training example below which
            # the question may be turned away. 0 switches the check off.
            "min_similarity": 0.6,
            # A topic whose own examples sit far apart (its ways of asking differ) gets a lower
            # bar, down to `similarity_floor`: the bar is this quantile of each example's
            # similarity to its topic's nearest other example, when below `min_similarity`.
            # 0 gives every topic `min_similarity`.
            "spread_quantile": 0.0,
            "similarity_floor": 0.5,
            # Blended confidence at or above which a low similarity alone does not turn a
            # question away.
            "sure_above": 0.8,
            # The intent whose examples are questions no topic answers.
            "unanswerable_intent": NOT_COVERED_INTENT,
            "unanswerable_margin": 0.05,
            "unanswerable_lead": 0.1,
            # Topic (`faq/insurance`) -> the lookup list (bot/data/nlu/lookups.yml) of terms
            # that put a question on that topic.
            "key_terms": {},
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vectors: dict[str, np.ndarray] | None = None,
        key_terms: dict[str, list[str]] | None = None,
        spread: dict[str, float] | None = None,
    ) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        # Topic key (`faq/cost`) -> its examples' unit vectors, one row each.
        self._vectors = vectors or {}
        # Topic key -> the terms of its lookup list, as plain strings.
        self._key_terms = key_terms or {}
        # Topic key -> how close its examples come to each other (see `spread_quantile`).
        self._spread = spread or {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> AnswerCoverage:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        prefix = self.component_config["retrieval_intent"] + "/"
        unanswerable = self.component_config["unanswerable_intent"]
        by_topic: dict[str, list[str]] = {}
        for example in training_data.intent_examples:
            key = example.get(INTENT_RESPONSE_KEY)
            if not example.get(TEXT):
                continue
            if key and key.startswith(prefix):
                by_topic.setdefault(key, []).append(classifier_text(example))
            elif example.get(INTENT) == unanswerable:
                by_topic.setdefault(UNANSWERABLE, []).append(classifier_text(example))
        try:
            encoder = default_encoder()
        except ModelFilesError as error:
            logger.warning("answer coverage not trained (%s); every topic is answered", error)
            return self._resource
        self._vectors = {key: encoder.encode(texts) for key, texts in by_topic.items()}
        lookups = {table["name"]: table["elements"] for table in lookup_lists(training_data)}
        self._key_terms = {topic: lookups.get(name, [])
                           for topic, name in self.component_config["key_terms"].items()}
        self._spread = topic_spread(self._vectors, self.component_config["spread_quantile"])
        with self._model_storage.write_to(self._resource) as model_dir:
            np.savez_compressed(model_dir / VECTORS_FILE, **_file_safe(self._vectors))
            (model_dir / KEY_TERMS_FILE).write_text(json.dumps(self._key_terms),
                                                    encoding="utf-8")
            (model_dir / SPREAD_FILE).write_text(json.dumps(self._spread), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> AnswerCoverage:
        try:
            with model_storage.read_from(resource) as model_dir:
                # allow_pickle=False: the file holds plain float arrays and nothing else.
                with np.load(model_dir / VECTORS_FILE, allow_pickle=False) as stored:
                    vectors = _from_file_safe({name: stored[name] for name in stored.files})
                # A damaged file (valid JSON, but not topic -> value) loses only what it
                # held: no key terms, or one bar for every topic, rather than an error on
                # every message. A model trained before the spread was kept has no spread.
                if not (model_dir / KEY_TERMS_FILE).exists():
                    # Kept by every model this component trains: its absence means damage.
                    logger.warning("answer coverage: %s missing; no key terms",
                                   KEY_TERMS_FILE)
                key_terms = _topic_map(model_dir / KEY_TERMS_FILE, _is_list_of_words)
                spread = _topic_map(model_dir / SPREAD_FILE, _is_number)
            default_encoder()
        except (ValueError, OSError, ModelFilesError) as error:
            logger.warning("answer coverage not loaded (%s); every topic is answered", error)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, vectors, key_terms, spread)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        config = self.component_config
        if not self._vectors or float(config["min_similarity"]) <= 0:
            return messages
        for message in messages:
            self._rescue_a_named_key_term(message, config["retrieval_intent"])
        judged = [(m, self._picked_topic(m, config["retrieval_intent"])) for m in messages]
        judged = [(m, key) for m, key in judged if key in self._vectors]
        if not judged:
            return messages
        vectors = default_encoder().encode([classifier_text(m) for m, _ in judged])
        unanswerable = self._vectors.get(UNANSWERABLE)
        for (message, key), vector in zip(judged, vectors, strict=True):
            terms = self._key_terms.get(key)
            nearest_other = max(
                ((float(np.max(rows @ vector)), other) for other, rows in self._vectors.items()
                 if other not in (key, UNANSWERABLE)), default=(0.0, None))
            evidence = {
                "topic": key,
                # The closest example of any other topic: whether the nearest examples agree
                # with the classifiers' pick.
                "other_similarity": round(nearest_other[0], 4),
                "other_topic": nearest_other[1],
                "key_term": bool(terms) and bool(
                    lookup_pattern(tuple(terms)).search(classifier_text(message))),
                "similarity": round(float(np.max(self._vectors[key] @ vector)), 4),
                "topic_spread": self._spread.get(key),
                "unanswerable_similarity": (
                    round(float(np.max(unanswerable @ vector)), 4)
                    if unanswerable is not None else None),
                "confidence": round(float(
                    (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0), 4),
            }
            message.set(COVERAGE_KEY, evidence, add_to_output=True)
            if not is_covered(evidence, config) and not self._rescue_a_named_key_term(
                    message, config["retrieval_intent"], NOT_COVERED_INTENT):
                logger.info("question not covered: nearest %s example at %.2f",
                            key, evidence["similarity"])
                message.set(INTENT, {INTENT_NAME_KEY: NOT_COVERED_INTENT,
                                     PREDICTED_CONFIDENCE_KEY: evidence["confidence"]},
                            add_to_output=True)
        return messages

    def _rescue_a_named_key_term(self, message: Message, retrieval_intent: str,
                                 judged_as: str | None = None) -> bool:
        """A message the classifiers could not place, or placed on a topic that does not cover
        it, but that names a key term ("does tricare work for this" got the effectiveness
        topic and was turned away) is about that term's topic: the answer then says whether
        that plan is accepted. True when it was moved."""
        intent = judged_as or (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if intent not in _RESCUABLE_INTENTS:
            return False
        text = classifier_text(message)
        for topic, terms in self._key_terms.items():
            if terms and lookup_pattern(tuple(terms)).search(text):
                confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0
                message.set(INTENT, {INTENT_NAME_KEY: retrieval_intent,
                                     PREDICTED_CONFIDENCE_KEY: confidence}, add_to_output=True)
                selector = dict(message.get("response_selector") or {})
                selector[retrieval_intent] = {
                    "response": {"intent_response_key": topic, "utter_action": f"utter_{topic}",
                                 "responses": [], PREDICTED_CONFIDENCE_KEY: confidence},
                    "ranking": [{"intent_response_key": topic,
                                 PREDICTED_CONFIDENCE_KEY: confidence}],
                }
                message.set("response_selector", selector, add_to_output=True)
                return True
        return False

    @staticmethod
    def _picked_topic(message: Message, retrieval_intent: str) -> str | None:
        if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) != retrieval_intent:
            return None
        selection = (message.get("response_selector") or {}).get(retrieval_intent) or {}
        return (selection.get("response") or {}).get(INTENT_RESPONSE_KEY)


def is_covered(evidence: dict, config: dict) -> bool:
    """The rule in the module docstring, on the numbers `process` records; also used by
    `make nlu-report` to replay other thresholds."""
    if evidence.get("key_term"):
        return True
    similarity, confidence = evidence["similarity"], evidence["confidence"]
    nearest_unanswerable = evidence.get("unanswerable_similarity")
    if nearest_unanswerable is not None and (
            nearest_unanswerable > similarity + config["unanswerable_lead"]):
        return False
    if similarity >= similarity_bar(evidence.get("topic_spread"), config):
        return True
    unanswerable_as_close = nearest_unanswerable is not None and (
        nearest_unanswerable >= similarity - config["unanswerable_margin"])
    return confidence >= config["sure_above"] and not unanswerable_as_close


def similarity_bar(spread: float | None, config: dict) -> float:
    """The similarity a question needs to its topic's nearest example: `min_similarity`, or
    less for a topic whose examples are far apart, but never below `similarity_floor`."""
    bar = config["min_similarity"]
    if spread is None or not config.get("spread_quantile"):
        return bar
    return max(min(bar, config["similarity_floor"]), min(bar, spread))


def _topic_map(path: Path, is_valid: Callable[[Any], bool]) -> dict[str, Any]:
    """The topic -> value pairs of a JSON file the model keeps, without any that are damaged;
    empty when the file is missing or is not an object."""
    if not path.exists():
        return {}
    stored = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(stored, dict):
        logger.warning("answer coverage: %s is not topic -> value; ignored", path.name)
        return {}
    kept = {topic: value for topic, value in stored.items() if is_valid(value)}
    if len(kept) < len(stored):
        logger.warning("answer coverage: %d damaged entries in %s ignored",
                       len(stored) - len(kept), path.name)
    return kept


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_list_of_words(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(term, str) for term in value)


def topic_spread(vectors: dict[str, np.ndarray], quantile: float) -> dict[str, float]:
    """Topic -> the `quantile` of its examples' similarity to their nearest other example of
    the topic: how close a new way of asking can be expected to come. Why: one bar for all
    turned away right answers on topics asked in many different ways ("do you treat gambling",
    "what about an eating disorder"), while their examples sit close to none of the others'."""
    if not quantile:
        return {}
    spread = {}
    for key, rows in vectors.items():
        if key == UNANSWERABLE or len(rows) < 2:
            continue
        similarities = rows @ rows.T
        np.fill_diagonal(similarities, -1.0)
        spread[key] = round(float(np.quantile(similarities.max(axis=1), quantile)), 4)
    return spread


# npz member names cannot hold "/": `faq/cost` is stored as `faq__cost`.
def _file_safe(vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key.replace("/", "__"): value for key, value in vectors.items()}


def _from_file_safe(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name.replace("__", "/", 1): value for name, value in stored.items()}
