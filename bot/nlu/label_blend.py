"""Blending two classifiers' opinions over full labels: `greet`, `faq/cost`, `faq/detox`, ...

DIET picks an intent and, when that intent is `faq`, the ResponseSelector picks a topic. Its
two-stage answer is turned into one score per full label (P(faq) x P(topic | faq)) so that it
can be averaged with a second classifier that scores the full labels directly. Plain Python,
so the arithmetic is tested without Rasa.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

RETRIEVAL_SEPARATOR = "/"


def base_intent(label: str) -> str:
    """`faq/cost` -> `faq`; `greet` -> `greet`."""
    return label.split(RETRIEVAL_SEPARATOR, 1)[0]


def two_stage_label_scores(
    intent_ranking: Iterable[Mapping], topic_rankings: Mapping[str, Sequence[Mapping]]
) -> dict[str, float]:
    """Scores per full label from an intent ranking and each retrieval intent's topic ranking.

    `intent_ranking` holds {"name", "confidence"} entries; `topic_rankings` maps a retrieval
    intent (`faq`) to {"intent_response_key", "confidence"} entries. A retrieval intent with
    no topic ranking keeps its own score under its bare name.
    """
    scores: dict[str, float] = {}
    for entry in intent_ranking:
        name, confidence = entry.get("name"), float(entry.get("confidence") or 0.0)
        if not name:
            continue
        topics = topic_rankings.get(name) or []
        if not topics:
            scores[name] = scores.get(name, 0.0) + confidence
            continue
        for topic in topics:
            key = topic.get("intent_response_key")
            if key:
                share = confidence * float(topic.get("confidence") or 0.0)
                scores[key] = scores.get(key, 0.0) + share
    return scores


def softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    """Margins (a linear SVM's decision values) turned into probabilities that sum to 1.

    `temperature` multiplies the margins: higher makes the winner surer.
    """
    if not scores:
        return {}
    peak = max(scores.values())
    exps = {label: math.exp((value - peak) * temperature) for label, value in scores.items()}
    total = sum(exps.values())
    return {label: value / total for label, value in exps.items()}


def blend(
    first: Mapping[str, float], second: Mapping[str, float], first_weight: float
) -> dict[str, float]:
    """Weighted average of two score maps; a label one side lacks counts as 0 there."""
    labels = set(first) | set(second)
    return {
        label: first_weight * first.get(label, 0.0) + (1 - first_weight) * second.get(label, 0.0)
        for label in labels
    }


def intent_ranking_from(label_scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """One entry per intent, best first, each scored by its best full label.

    The best label rather than the sum: the FallbackClassifier after this reads the top two
    entries, and "faq, split evenly between cost and insurance" should look unsure, not sure.
    """
    best: dict[str, float] = {}
    for label, score in label_scores.items():
        intent = base_intent(label)
        best[intent] = max(best.get(intent, 0.0), score)
    return sorted(best.items(), key=lambda item: (-item[1], item[0]))


def topic_ranking_from(
    label_scores: Mapping[str, float], retrieval_intent: str
) -> list[tuple[str, float]]:
    """The retrieval intent's topics, best first, with their blended scores."""
    prefix = retrieval_intent + RETRIEVAL_SEPARATOR
    topics = [(label, score) for label, score in label_scores.items() if label.startswith(prefix)]
    return sorted(topics, key=lambda item: (-item[1], item[0]))
