"""Rasa NLU component: a linear n-gram classifier that gives a second opinion on every label.

DIET and the ResponseSelector decide in two stages (intent, then FAQ topic), so a message
DIET wrongly calls `faq` can only be answered with some topic, and a topic the selector
misses cannot be rescued by the intent. This component scores the full labels (`greet`,
`faq/cost`, ...) in one stage with word and character n-grams and a linear SVM, averages
that with the two-stage answer, and rewrites the intent, the intent ranking and the FAQ
selection from the average.

Why: in 5-fold cross-validation the linear model alone is about as accurate as DIET, but
wrong on different messages, so the average corrects both (see `make nlu-report`).

It sits after the ResponseSelector and before FallbackClassifier, which then judges the
blended confidences; the crisis and no-words guards still run last.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
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
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.label_blend import (
    base_intent,
    blend,
    intent_ranking_from,
    softmax,
    topic_ranking_from,
    two_stage_label_scores,
)
from bot.nlu.lookup_features import LookupMatches, lookup_lists
from bot.nlu.sentence_encoder import ModelFilesError, SentenceEmbeddings, default_encoder
from bot.safety.folding import fold_look_alikes

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_topic_classifier.skops"
ENCODER_MODEL_FILE = "linear_topic_classifier_with_encoder.skops"
RESPONSES_FILE = "retrieval_responses.json"
# The keys the ResponseSelector writes, spelt as in rasa.nlu.selectors.response_selector.
SELECTOR_KEY = "response_selector"
SELECTOR_PREDICTION = "response"
SELECTOR_RANKING = "ranking"
SELECTOR_RESPONSES = "responses"
SELECTOR_UTTER_ACTION = "utter_action"


def build_linear_classifier(
    c: float,
    lookups: Sequence[dict] = (),
    lookup_weight: float = 0.0,
    embedding_weight: float = 0.0,
):
    """Word 1-2-grams, character 2-5-grams within words, the lookup lists and a pretrained
    sentence encoder's vector; a linear SVM.

    Character n-grams carry typos and SMS shorthand ("hw much", "wat is iop"); word pairs
    separate "how long" from "how much". These settings were the best of eight variants in
    cross-validation (word triples, stemming and class weights all did worse). The lookup
    lists (bot/data/nlu/lookups.yml) let one listed word stand for all its neighbours: on the
    linear model alone, 5-fold macro-F1 0.918 -> 0.930 at weight 0.3 (0.2 and 0.4 did worse).
    The sentence vector (bot/nlu/sentence_encoder.py) carries meaning across different words:
    on the linear model alone 0.935 -> 0.958 at weight 1 (0.5 and 2 did worse).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    features = [
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    ]
    if lookups and lookup_weight > 0:
        features.append(LookupMatches(list(lookups), lookup_weight))
    if embedding_weight > 0:
        features.append(SentenceEmbeddings(embedding_weight))
    return make_pipeline(make_union(*features), LinearSVC(C=c))


def classifier_text(message: Message) -> str:
    """The text as the tokenizer reads it: look-alike letters as plain ones (folding_tokenizer)."""
    text = message.get(TEXT) or ""
    return text if text.isascii() else fold_look_alikes(text)[0]


def full_label(example: Message) -> str | None:
    """`faq/cost` for a retrieval example, the intent for any other."""
    return example.get(INTENT_RESPONSE_KEY) or example.get(INTENT)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TopicSecondOpinion(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # DIET's share of the average; the linear model gets the rest.
            "diet_weight": 0.5,
            # Turns the SVM's margins into probabilities comparable with DIET's.
            "temperature": 5.0,
            "svm_c": 1.0,
            # The lookup lists' share of the linear model's features; 0 leaves them out.
            "lookup_weight": 0.3,
            # The pretrained sentence vector's share; 0 leaves the encoder out entirely.
            "embedding_weight": 0.0,
            # A second linear model that also reads the sentence vector is asked only when
            # the first one's blended top score is below this: 1.0 asks it for every message.
            "encoder_when_unsure_below": 1.0,
            # Entries kept in the rankings, as DIET and the ResponseSelector keep 10.
            "ranking_length": 10,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        classifier: Any = None,
        responses: dict[str, list] | None = None,
        encoder_classifier: Any = None,
    ) -> None:
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self._classifier = classifier
        self._encoder_classifier = encoder_classifier
        self._responses = responses or {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TopicSecondOpinion:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(TEXT) and full_label(e)]
        labels = [full_label(e) for e in examples]
        if len(set(labels)) < 2:
            logger.warning("second opinion not trained: fewer than two labels in the data")
            return self._resource
        texts = [classifier_text(e) for e in examples]
        config, lookups = self.component_config, lookup_lists(training_data)
        self._classifier = build_linear_classifier(
            config["svm_c"], lookups, config["lookup_weight"]).fit(texts, labels)
        self._encoder_classifier = None
        if config["embedding_weight"] > 0:
            self._encoder_classifier = build_linear_classifier(
                config["svm_c"], lookups, config["lookup_weight"], config["embedding_weight"]
            ).fit(texts, labels)
        # The answers for each topic, so a topic this component picks comes with its own
        # responses in the parse result, as the ResponseSelector's pick does.
        retrieval_keys = {label for label in labels if label != base_intent(label)}
        self._responses = {
            key: training_data.responses.get(f"utter_{key}", []) for key in retrieval_keys
        }
        self.persist()
        return self._resource

    def persist(self) -> None:
        from rasa.shared.utils.io import dump_obj_as_json_to_file

        sio = _skops_io()
        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self._classifier, model_dir / MODEL_FILE)
            if self._encoder_classifier is not None:
                sio.dump(self._encoder_classifier, model_dir / ENCODER_MODEL_FILE)
            dump_obj_as_json_to_file(model_dir / RESPONSES_FILE, self._responses)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TopicSecondOpinion:
        from rasa.shared.utils.io import read_json_file

        sio = _skops_io()
        try:
            with model_storage.read_from(resource) as model_dir:
                classifier = _load_classifier(sio, model_dir / MODEL_FILE)
                encoder_classifier = None
                if (model_dir / ENCODER_MODEL_FILE).is_file():
                    encoder_classifier = _load_classifier(sio, model_dir / ENCODER_MODEL_FILE)
                responses = read_json_file(model_dir / RESPONSES_FILE)
        except ValueError as error:
            # Without its model the component passes DIET's answer through unchanged.
            logger.warning("second opinion not loaded (%s); DIET decides alone", error)
            return cls(config, model_storage, resource)
        if encoder_classifier is not None:
            try:
                # Loaded and checked now, so the first person to write does not wait for it
                # and a missing or altered model shows at start-up.
                default_encoder()
            except ModelFilesError as error:
                logger.warning("sentence encoder not loaded (%s); n-grams decide alone", error)
                encoder_classifier = None
        return cls(config, model_storage, resource, classifier, responses, encoder_classifier)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        if self._classifier is None:
            return messages
        with_text = [i for i, m in enumerate(messages) if (m.get(TEXT) or "").strip()]
        if not with_text:
            return messages
        two_stage = {i: two_stage_label_scores(messages[i].get(INTENT_RANKING_KEY) or [],
                                               _topic_rankings(messages[i])) for i in with_text}
        blended = self._blend(self._classifier, messages, with_text, two_stage)
        # The encoder costs more than everything else here put together, so it is asked only
        # when the n-gram answer is unsure.
        unsure_below = self.component_config["encoder_when_unsure_below"]
        unsure = [i for i in with_text if max(blended[i].values(), default=0.0) < unsure_below]
        if self._encoder_classifier is not None and unsure:
            blended.update(self._blend(self._encoder_classifier, messages, unsure, two_stage))
        for index in with_text:
            self._rewrite(messages[index], blended[index])
        return messages

    def _blend(
        self, classifier: Any, messages: list[Message], indices: list[int], two_stage: dict
    ) -> dict[int, dict[str, float]]:
        """DIET's two-stage scores averaged with the classifier's, for each message index."""
        margins = classifier.decision_function([classifier_text(messages[i]) for i in indices])
        classes = list(classifier.classes_)
        temperature, diet_weight = (self.component_config[key]
                                    for key in ("temperature", "diet_weight"))
        return {
            index: blend(two_stage[index],
                         softmax(dict(zip(classes, map(float, row), strict=True)), temperature),
                         diet_weight)
            for row, index in zip(margins, indices, strict=True)
        }

    def _rewrite(self, message: Message, scores: dict[str, float]) -> None:
        if not scores:
            return
        selector = message.get(SELECTOR_KEY) or {}
        topic_rankings = _topic_rankings(message)
        length = self.component_config["ranking_length"]
        best_label = max(scores, key=lambda label: (scores[label], label))
        ranking = [
            {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: score}
            for name, score in intent_ranking_from(scores)[:length]
        ]
        message.set(INTENT, {INTENT_NAME_KEY: base_intent(best_label),
                             PREDICTED_CONFIDENCE_KEY: scores[best_label]}, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        for retrieval_intent, topics in topic_rankings.items():
            self._rewrite_selection(selector, retrieval_intent, topics, scores, length)
        if selector:
            message.set(SELECTOR_KEY, selector, add_to_output=True)

    def _rewrite_selection(
        self,
        selector: dict,
        retrieval_intent: str,
        old_ranking: Sequence[dict],
        scores: dict[str, float],
        length: int,
    ) -> None:
        """Re-rank the topics by the blended scores; the fallback ladder reads this ranking."""
        ids = {entry.get(INTENT_RESPONSE_KEY): entry.get("id") for entry in old_ranking}
        topics = topic_ranking_from(scores, retrieval_intent)[:length]
        if not topics:
            return
        top_key, top_score = topics[0]
        selector[retrieval_intent] = {
            SELECTOR_PREDICTION: {
                SELECTOR_RESPONSES: self._responses.get(top_key, []),
                PREDICTED_CONFIDENCE_KEY: top_score,
                INTENT_RESPONSE_KEY: top_key,
                SELECTOR_UTTER_ACTION: f"utter_{top_key}",
            },
            SELECTOR_RANKING: [
                {"id": ids.get(key), PREDICTED_CONFIDENCE_KEY: score, INTENT_RESPONSE_KEY: key}
                for key, score in topics
            ],
        }


def _topic_rankings(message: Message) -> dict[str, list]:
    """Each retrieval intent's topic ranking as the ResponseSelector left it."""
    selector = message.get(SELECTOR_KEY) or {}
    return {
        name: (value or {}).get(SELECTOR_RANKING) or []
        for name, value in selector.items()
        if isinstance(value, dict)
    }


def _load_classifier(sio, model_file) -> Any:
    """skops rather than pickle: loading runs no code the file could carry. Only the
    scikit-learn, numpy and scipy types the pipeline is built from, and our own two
    transformers, are trusted."""
    untrusted = sio.get_untrusted_types(file=model_file)
    unexpected = [name for name in untrusted if not _is_expected_type(name)]
    if unexpected:
        raise ValueError(f"unexpected types in {model_file.name}: {unexpected}")
    return sio.load(model_file, trusted=untrusted)


def _skops_io():
    """skops.io, imported without its side effect on logging.

    Importing skops 0.9 sets the root logger to WARNING, which silenced every INFO line of
    the Rasa server after the model loaded, the crisis guard's included. Undo that.
    """
    root = logging.getLogger()
    level = root.level
    import skops.io

    root.setLevel(level)
    return skops.io


# Our own transformers inside the saved pipeline; skops loads no other class of ours.
_OWN_TRANSFORMERS = frozenset(
    f"{kind.__module__}.{kind.__qualname__}" for kind in (LookupMatches, SentenceEmbeddings)
)


def _is_expected_type(type_name: str) -> bool:
    return type_name.startswith(("sklearn.", "numpy.", "scipy.")) or type_name in _OWN_TRANSFORMERS
