"""The deterministic crisis net on its own: every crisis phrasing escalates, hard topics do not."""
from pathlib import Path

import pytest
import yaml

from bot.safety.crisis import CrisisDetector, normalise
from bot.settings import load_settings

PHRASINGS = yaml.safe_load(
    (Path(__file__).parent / "data" / "crisis_phrasings.yml").read_text(encoding="utf-8")
)
DETECTOR = CrisisDetector.from_file(load_settings().crisis_patterns_path)


def test_the_suite_is_as_large_as_promised():
    assert len(PHRASINGS["escalate"]) >= 40
    assert len(PHRASINGS["do_not_escalate"]) >= 20


@pytest.mark.parametrize("message", PHRASINGS["escalate"])
def test_crisis_phrasing_escalates(message):
    assert DETECTOR.detect(message) is not None


@pytest.mark.parametrize("message", PHRASINGS["do_not_escalate"])
def test_hard_topic_does_not_escalate(message):
    assert DETECTOR.detect(message) is None


@pytest.mark.parametrize(
    "message, category",
    [
        ("I want to kill myself", "suicide"),
        ("been cutting myself", "self_harm"),
        ("I'm going to hurt someone", "harm_to_others"),
        ("I think he overdosed", "overdose"),
        ("she isn't breathing", "medical_emergency"),
    ],
)
def test_category_is_reported_for_logging(message, category):
    assert DETECTOR.detect(message).category == category


def test_a_past_loss_does_not_hide_a_present_crisis():
    message = "my brother died of an overdose last year and now I want to die too"
    assert DETECTOR.detect(message).category == "suicide"


@pytest.mark.parametrize(
    "message",
    [
        "I WANT TO KILL MYSELF",
        "I don\u2019t want to live anymore",  # curly apostrophe from a phone keyboard
        "i   want   to\n\ndie",
        "\U0001F62D\U0001F62D i want to die \U0001F62D",
        "<b>I want to kill myself</b>",
    ],
)
def test_case_spacing_emoji_and_markup_do_not_hide_a_crisis(message):
    assert DETECTOR.detect(message) is not None


@pytest.mark.parametrize("message", ["", None, "   ", "\U0001F600", "x" * 5000, "'; DROP TABLE leads;--"])
def test_odd_input_neither_crashes_nor_escalates(message):
    assert DETECTOR.detect(message) is None


def test_normalise_folds_case_and_apostrophes():
    assert normalise("  Don\u2019t  GO ") == "don't go"


def test_every_crisis_training_example_is_caught_by_the_safety_net_alone(nlu_examples):
    # The classifier learns from these, but a message like them must never depend on it.
    missed = [e for e in nlu_examples["crisis"] if DETECTOR.detect(e) is None]
    assert missed == []


def test_no_other_training_example_trips_the_safety_net(nlu_examples):
    # Otherwise the classifier is taught one thing and the guard forces another.
    tripped = [
        (intent, e) for intent, examples in nlu_examples.items() if intent != "crisis"
        for e in examples if DETECTOR.detect(e) is not None
    ]
    assert tripped == []
