"""The NLU data honours the intent-name contract and has enough varied examples, and the
messages kept for measuring never reach it."""
import re

import pytest
import yaml

from bot.faq_topics import load_topics
from bot.settings import PROJECT_ROOT

# Every topic of the catalogue (bot/faq_topics.yml); the center's own ones need only 5.
FAQ_TOPICS = [key for key in load_topics() if not key.startswith("center_")]
CORE_INTENTS = [
    "greet", "goodbye", "affirm", "deny", "thank", "start_prescreen", "request_human",
    "crisis", "out_of_scope",
]


@pytest.mark.parametrize("intent", [f"faq/{t}" for t in FAQ_TOPICS] + CORE_INTENTS)
def test_each_contract_intent_has_at_least_20_distinct_examples(intent, nlu_examples):
    examples = nlu_examples.get(intent, [])
    assert len({e.lower() for e in examples}) >= 20, f"{intent} has {len(examples)} examples"


@pytest.mark.parametrize("topic", FAQ_TOPICS)
def test_each_faq_topic_has_an_answer(topic, responses):
    assert f"utter_faq/{topic}" in responses


def test_no_example_is_claimed_by_two_intents(nlu_examples):
    owner: dict[str, str] = {}
    clashes = []
    for intent, examples in nlu_examples.items():
        for example in examples:
            key = example.lower()
            if key in owner and owner[key] != intent:
                clashes.append((example, owner[key], intent))
            owner[key] = intent
    assert clashes == []



def test_held_out_messages_never_reach_the_training_data(nlu_examples):
    """`make nlu-report` scores tests/data/nlu_holdout.yml as unseen; a copy would fake it."""
    held_out = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / "nlu_holdout.yml").read_text())
    held_out_texts = {
        line[2:].strip().lower()
        for block in held_out["nlu"]
        for line in block["examples"].splitlines()
        if line.startswith("- ")
    }
    trained = {e.lower() for examples in nlu_examples.values() for e in examples}
    assert len(held_out_texts) >= 140
    assert sorted(held_out_texts & trained) == []


def _long_tail() -> list[tuple[str, str]]:
    raw = yaml.safe_load((PROJECT_ROOT / "tests" / "data" / "nlu_longtail.yml").read_text())
    return [(text, group["answer"]) for group in raw["questions"] for text in group["texts"]]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _word_edits(first: list[str], second: list[str]) -> int:
    """Words inserted, deleted or replaced to turn one phrasing into the other."""
    row = list(range(len(second) + 1))
    for i, word in enumerate(first, 1):
        previous, row[0] = row[:], i
        for j, other in enumerate(second, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != other))
    return row[-1]


def test_the_long_tail_set_is_big_enough_and_names_real_topics():
    questions = _long_tail()
    assert len(questions) >= 80
    known = set(FAQ_TOPICS) | {"defer"}
    assert {answer for _, answer in questions} <= known
    assert sum(answer == "defer" for _, answer in questions) >= 15


def test_no_long_tail_question_is_labelled_with_a_topic_the_profile_cannot_answer(profile):
    from bot.faq_answers import missing_details

    topics = load_topics()
    wrong = [(text, answer) for text, answer in _long_tail()
             if answer != "defer" and missing_details(topics[answer], profile)]
    assert wrong == []


def test_long_tail_questions_are_phrased_unlike_any_training_example(nlu_examples):
    """Not a copy, not mostly the same words (Jaccard 0.75 or more), and not one word away
    from an example of the topic that answers it: otherwise the set would measure recall of
    the training data, not the long tail."""
    trained = [(intent, example) for intent, examples in nlu_examples.items()
               for example in examples]
    too_close = []
    for text, answer in _long_tail():
        words = _words(text)
        for intent, example in trained:
            other = _words(example)
            overlap = len(set(words) & set(other)) / len(set(words) | set(other))
            same_topic = intent == (
                "question_not_covered" if answer == "defer" else f"faq/{answer}")
            if overlap >= 0.75 or (same_topic and _word_edits(words, other) <= 1):
                too_close.append((text, intent, example))
    assert too_close == []
