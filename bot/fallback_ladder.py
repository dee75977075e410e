"""The fallback ladder's decisions, as plain functions (no Rasa import).

First miss: a clarification that names the closest topics. Second miss in a row (and after):
the offer of a counselor. Never a dead end.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

MISS_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})

# How each FAQ topic is named when the assistant asks "Did you mean ...?".
TOPIC_LABELS = {
    "faq/what_is_iop": "what IOP is",
    "faq/what_happens": "what happens in IOP",
    "faq/duration": "how long it lasts",
    "faq/schedule": "the weekly schedule",
    "faq/cost": "cost",
    "faq/insurance": "insurance",
    "faq/detox": "detox",
    "faq/eligibility": "who IOP is for",
    "faq/levels_of_care": "levels of care",
    "faq/family": "family involvement",
    "faq/co_occurring": "mental health care",
    "faq/telehealth": "telehealth",
    "faq/confidentiality": "privacy",
    "faq/medication": "medication",
    "faq/aftercare": "aftercare",
    "faq/effectiveness": "whether IOP works",
    "faq/location_hours": "our location and hours",
    "faq/support_groups": "support groups",
}

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


def closest_topics(response_ranking: list[dict], limit: int = 2) -> list[str]:
    """Readable names of the FAQ topics the response selector ranked highest."""
    labels = []
    for candidate in response_ranking:
        label = TOPIC_LABELS.get(candidate.get("intent_response_key", ""))
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
