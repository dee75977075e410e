"""The deterministic crisis net on its own: every crisis phrasing escalates, hard topics do not."""
from pathlib import Path

import pytest
import re2
import yaml

from bot.safety.crisis import CrisisDetector, CrisisMatch, normalise
from bot.settings import load_settings

DATA = Path(__file__).parent / "data"
PHRASINGS = {
    language: yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    for language, name in [("en", "crisis_phrasings.yml"), ("es", "crisis_phrasings_es.yml")]
}
DETECTOR = CrisisDetector.from_file(load_settings().crisis_patterns_path)
FAMILIES = {"suicide", "self_harm", "harm_to_others", "overdose", "medical_emergency",
            "emergency"}


def _with_categories(language):
    return [(language, category, message)
            for category, messages in PHRASINGS[language]["escalate_by_category"].items()
            for message in messages]


WITH_CATEGORIES = _with_categories("en") + _with_categories("es")
HARD_TOPICS = [(language, message) for language in PHRASINGS
               for message in PHRASINGS[language]["do_not_escalate"]]


def test_the_suite_is_as_large_as_promised():
    assert len(PHRASINGS["en"]["escalate"]) >= 40
    assert len(_with_categories("en")) >= 60
    assert len(_with_categories("es")) >= 30
    for language in PHRASINGS:
        assert set(PHRASINGS[language]["escalate_by_category"]) == FAMILIES
    assert len(PHRASINGS["en"]["do_not_escalate"]) >= 50  # 30 older ones, 20 and more newer
    assert len(PHRASINGS["es"]["do_not_escalate"]) >= 20


@pytest.mark.parametrize("message", PHRASINGS["en"]["escalate"])
def test_crisis_phrasing_escalates(message):
    assert DETECTOR.detect(message) is not None


@pytest.mark.parametrize("language, category, message", WITH_CATEGORIES)
def test_crisis_phrasing_escalates_under_its_category_and_language(language, category, message):
    # The language picks the reply's language when the message itself is unclear ("kms").
    assert DETECTOR.detect(message) == CrisisMatch(category, language)


@pytest.mark.parametrize("language, message", HARD_TOPICS)
def test_hard_topic_does_not_escalate(language, message):
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
    assert DETECTOR.detect("my brother died of an overdose last year and now I want to die too"
                           ).category == "suicide"
    assert DETECTOR.detect("mi hermano murió de una sobredosis hace 3 años y ahora quiero matarme"
                           ) == CrisisMatch("suicide", "es")


def test_a_crisis_in_either_language_is_found_in_a_mixed_message():
    assert DETECTOR.detect("hola, how much is it? my son isn't breathing") is not None
    assert DETECTOR.detect("how much is it? mi hijo no respira") is not None


@pytest.mark.parametrize(
    "message",
    [
        "I WANT TO KILL MYSELF",
        "I don\u2019t want to live anymore",  # curly apostrophe from a phone keyboard
        "i   want   to\n\ndie",
        "\U0001F62D\U0001F62D i want to die \U0001F62D",
        "<b>I want to kill myself</b>",
        "\u202eI want to die\u202c",  # right-to-left override around the words
    ],
)
def test_case_spacing_emoji_and_markup_do_not_hide_a_crisis(message):
    assert DETECTOR.detect(message) is not None


@pytest.mark.parametrize("message", [
    "", None, "   ", "\U0001F600", "x" * 5000, "'; DROP TABLE leads;--", "call me at 312 555 0142",
    "it costs $2,500 for 12 weeks", "do you take BCBS? my ID is W1234", "24/7 support?",
])
def test_odd_input_neither_crashes_nor_escalates(message):
    assert DETECTOR.detect(message) is None


def test_normalise_for_the_prescreen_still_reads_text_as_typed():
    # The pre-screen's answer parsing keeps its accents ("sí") and its digits.
    assert normalise("  Don\u2019t  GO ") == "don't go"
    assert normalise("Sí, 45 AÑOS") == "sí, 45 años"


# --- the engine: RE2, linear in the message's length ---

HUNDRED_KB = 100_000
ADVERSARIAL = {
    "the old quadratic pattern's trap": "has a gun " * (HUNDRED_KB // 10),
    "one long word after a trigger": "has a gun " + "a" * HUNDRED_KB,
    "spaced-out letters": "k i l l " * (HUNDRED_KB // 8),
    "digits for letters everywhere": "k1ll " * (HUNDRED_KB // 5),
    "combining marks": "a\u0301" * (HUNDRED_KB // 2),
    "zero-width spaces": "k\u200bi " * (HUNDRED_KB // 4),
    "look-alike letters": "\u0456" * HUNDRED_KB,
    "letters and dots": "a.b.c " * (HUNDRED_KB // 6),
}


def test_every_pattern_runs_on_re2():
    # RE2's matching time is linear in the input whatever the pattern: no message can stall
    # the net. (The timing is measured by `make bench`, not asserted on a shared machine.)
    compiled = list(DETECTOR.compiled_patterns())
    assert len(compiled) >= 2 * len(FAMILIES)
    assert all(isinstance(pattern, type(re2.compile("x"))) for pattern in compiled)
    assert set(DETECTOR.languages) == {"en", "es"}


@pytest.mark.parametrize("message", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_a_100_kb_message_is_checked_and_a_crisis_at_its_end_still_found(message):
    assert DETECTOR.detect(message) is None
    assert DETECTOR.detect(message + " k1ll mys3lf") == CrisisMatch("suicide", "en")
    assert DETECTOR.detect(message + " quiero matarme") == CrisisMatch("suicide", "es")


def test_a_pattern_re2_cannot_run_is_refused_when_loading():
    # Lookahead, as the old `jump` pattern had: RE2 has none, so it must be rewritten.
    with pytest.raises(ValueError, match="not valid RE2"):
        CrisisDetector({"en": {"crisis": {"suicide": ["jump(?!\\s+in)"]}}})


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
