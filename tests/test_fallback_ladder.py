"""The fallback ladder's decisions as plain functions."""
import pytest

from bot.fallback_ladder import (
    closest_topics,
    consecutive_misses,
    has_words,
    next_fallback_step,
    or_list,
)
from bot.faq_topics import load_topics


@pytest.mark.parametrize(
    "intents, misses",
    [
        ([], 0),
        (["faq"], 0),
        (["nlu_fallback"], 1),
        (["out_of_scope", "nlu_fallback", "faq", "nlu_fallback"], 2),
        (["nlu_fallback", "greet", "nlu_fallback"], 1),
    ],
)
def test_consecutive_misses_counts_from_the_newest_message(intents, misses):
    assert consecutive_misses(intents) == misses


@pytest.mark.parametrize(
    "text, intent, misses, step",
    [
        ("blah", "nlu_fallback", 1, "clarify_topics"),
        ("weather?", "out_of_scope", 1, "clarify_generic"),
        ("blah", "nlu_fallback", 2, "offer_counselor"),
        ("blah", "nlu_fallback", 7, "offer_counselor"),
        ("", "nlu_fallback", 1, "empty"),
        ("\U0001F44D", "nlu_fallback", 1, "empty"),
        ("", "nlu_fallback", 2, "offer_counselor"),
    ],
)
def test_ladder_clarifies_once_then_offers_a_counselor(text, intent, misses, step):
    assert next_fallback_step(text, intent, misses) == step


def test_closest_topics_names_the_top_distinct_topics():
    ranking = [
        {"intent_response_key": "faq/cost", "confidence": 0.4},
        {"intent_response_key": "faq/insurance", "confidence": 0.3},
        {"intent_response_key": "faq/detox", "confidence": 0.2},
    ]
    assert closest_topics(ranking, load_topics()) == ["cost", "insurance"]
    assert or_list(closest_topics(ranking, load_topics(), limit=3)) == "cost, insurance or detox"


def test_closest_topics_ignores_unknown_keys():
    assert closest_topics([{"intent_response_key": "faq/unknown"}, {}], load_topics()) == []


@pytest.mark.parametrize(
    "text, expected",
    [("", False), (None, False), ("  \n", False), ("\U0001F600\U0001F600", False),
     ("ok", True), ("¿qué?", True), ("911", True)],
)
def test_has_words(text, expected):
    assert has_words(text) is expected
