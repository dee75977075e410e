"""The fallback ladder's decisions, as plain functions (no Rasa import).

First miss: a clarification that names the closest topics. Second miss in a row (and after):
the offer of a counselor. Never a dead end.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from bot.faq_topics import FaqTopic, topic_key

MISS_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})

FallbackStep = Literal["empty", "clarify_topics", "clarify_generic", "offer_counselor"]


def consecutive_misses(user_intents_newest_first: Iterable[str | None]) -> int:
    """How many of the latest user messages in a row the assistant did not understand."""
    misses = 0
    for intent in user_intents_newest_first:
        if intent not in MISS_INTENTS:
            break
        misses += 1
    return misses


def has_words(text: str | None) -> bool:
    """False for empty, whitespace-only or emoji-only messages."""
    return any(character.isalnum() for character in text or "")


def closest_topics(
    response_ranking: list[dict], topics: Mapping[str, FaqTopic], language: str | None = None,
    limit: int = 2,
) -> list[str]:
    """Readable names of the FAQ topics the response selector ranked highest."""
    labels = []
    for candidate in response_ranking:
        topic = topics.get(topic_key(candidate.get("intent_response_key")) or "")
        label = topic.label(language) if topic else None
        if label and label not in labels:
            labels.append(label)
        if len(labels) == limit:
            break
    return labels


def or_list(labels: list[str]) -> str:
    """'cost', 'cost or insurance', 'cost, insurance or detox'."""
    if len(labels) <= 1:
        return "".join(labels)
    return f"{', '.join(labels[:-1])} or {labels[-1]}"


def next_fallback_step(text: str | None, intent: str | None, misses: int) -> FallbackStep:
    if not has_words(text):
        return "empty" if misses <= 1 else "offer_counselor"
    if misses >= 2:
        return "offer_counselor"
    # An understood off-topic request has no "closest topic"; a low-confidence guess does.
    return "clarify_generic" if intent == "out_of_scope" else "clarify_topics"
