"""Every reply, filled from the facility profile, fits an SMS, is honest, and offers a next step."""
import re
import string

import pytest

from bot.facility_check import LONGEST_RUNTIME_VALUES as RUNTIME_VALUES

SMS_LIMIT = 320
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Words that would promise coverage, an outcome or a diagnosis.
PROMISES = re.compile(
    r"\b(guarantee\w*|will be covered|is covered|fully covered|cure[sd]?|100%|diagnos\w*"
    r"|you have an? \w+ disorder)\b",
    re.IGNORECASE,
)

# A detail the sample profile leaves empty, as a center might fill it (150 characters).
UNFILLED_DETAIL = ("The whole building and grounds are smoke-free, vapes included; there is "
                   "a smoking area by the parking lot, and we offer help quitting nicotine.")


def _fill(text: str, values: dict[str, str]) -> str:
    missing = {name: UNFILLED_DETAIL for name in PLACEHOLDER.findall(text)
               if name.startswith("facility_") and name not in values}
    return string.Formatter().vformat(text, (), {**missing, **values})


def _all_texts(responses, channel=None):
    """Every variant's text, or only those a channel ("" for the default ones) would use."""
    for name, variants in responses.items():
        for variant in variants:
            if channel is None or variant.get("channel", "") == channel:
                yield name, variant["text"]


def test_every_placeholder_is_a_profile_value_or_runtime_value(responses, profile):
    from bot.faq_topics import known_details, load_topics

    details = {f"facility_{name}" for name in known_details(load_topics())}
    known = set(profile.reply_slots()) | details | set(RUNTIME_VALUES)
    for name, text in _all_texts(responses):
        assert set(PLACEHOLDER.findall(text)) <= known, name


def test_every_reply_fits_one_sms_once_filled(responses, profile):
    """Written replies (not the ones said on a call) fit in one 320-character text."""
    values = {**profile.reply_slots(), **profile.detail_values(), **RUNTIME_VALUES}
    too_long = {
        name: len(_fill(text, values))
        for name, text in _all_texts(responses, channel="")
        if len(_fill(text, values)) > SMS_LIMIT
    }
    assert too_long == {}


def test_no_reply_promises_coverage_outcome_or_diagnosis(responses, profile):
    values = {**profile.reply_slots(), **profile.detail_values(), **RUNTIME_VALUES}
    for name, text in _all_texts(responses):
        assert not PROMISES.search(_fill(text, values)), name


def test_every_faq_answer_offers_a_counselor(responses):
    for name, text in _all_texts(responses):
        if name.startswith("utter_faq/"):
            assert "counselor" in text.lower(), name


def test_every_faq_answer_offers_the_prescreen(responses):
    for name, text in _all_texts(responses):
        if name.startswith("utter_faq/"):
            assert "'get started'" in text, name


def test_replies_read_well_aloud(responses, profile):
    # No links, markdown or emoji: the same text is spoken on the phone line.
    values = {**profile.reply_slots(), **profile.detail_values(), **RUNTIME_VALUES}
    for name, text in _all_texts(responses):
        assert not re.search(r"https?://|[*_#`\[\]]|[\U0001F300-\U0001FAFF]",
                             _fill(text, values)), name


def test_center_facts_come_only_from_the_profile(responses, profile):
    center_facts = [
        profile.name, profile.helpline_phone, profile.address, profile.self_pay_range,
        *profile.accepted_insurers,
    ]
    for name, text in _all_texts(responses):
        for fact in center_facts:
            assert fact not in text, f"{name} hard-codes {fact!r}"


def test_crisis_reply_gives_911_988_and_samhsa(responses):
    text = responses["utter_crisis"][0]["text"]
    assert "911" in text and "988" in text and "1-800-662-4357" in text
    assert "text 988" in text


def test_asked_about_itself_it_says_automated_and_how_to_reach_a_person(responses):
    for variant in responses["utter_about_bot"]:
        assert "automated" in variant["text"] and "not a person" in variant["text"]
        assert "counselor" in variant["text"]


def test_disclosure_says_automated_and_how_to_reach_a_person(responses, profile):
    text = _fill(responses["utter_disclosure"][0]["text"], profile.reply_slots())
    assert "automated" in text and "not a person" in text
    assert profile.helpline_phone in text and "counselor" in text


@pytest.mark.parametrize(
    "topic, fact",
    [
        ("cost", "self_pay_range"), ("schedule", "hours_per_week"), ("duration", "typical_length"),
        ("location_hours", "address"), ("telehealth", None), ("insurance", None),
    ],
)
def test_center_specific_answers_use_the_profile(topic, fact, responses, profile):
    text = _fill(responses[f"utter_faq/{topic}"][0]["text"], profile.reply_slots())
    if fact:
        assert getattr(profile, fact) in text
    if topic == "insurance":
        assert all(insurer in text for insurer in profile.accepted_insurers)
    if topic == "telehealth":
        assert "video" in text


def test_on_a_call_crisis_replies_offer_988_and_handoffs_transfer_or_say_goodbye(responses):
    voice = {name: variant for name, variants in responses.items() for variant in variants
             if variant.get("channel") == "twilio_voice"}
    for name in ("utter_crisis", "utter_ps_suicidal_now"):
        assert voice[name]["custom"] == {"voice": "offer_988"} and "911" in voice[name]["text"]
    for name in ("utter_handoff_open", "utter_ps_done_open"):
        assert voice[name]["custom"] == {"voice": "transfer"}
    for name in ("utter_handoff_closed", "utter_ps_done_closed"):
        assert voice[name]["custom"] == {"voice": "hang_up"} and "call you" in voice[name]["text"]
    assert "press 0" in voice["utter_disclosure"]["text"].lower()
    assert "automated" in voice["utter_disclosure"]["text"]



def test_each_topic_answer_uses_only_the_profile_details_its_topic_needs(responses, profile):
    """A detail the catalogue does not list would not be checked for, and an empty one
    would leave a gap in the reply instead of the honest "I don't have that detail"."""
    from bot.faq_topics import load_topics

    for key, topic in load_topics().items():
        for variant in responses.get(f"utter_faq/{key}", []):
            used = set(PLACEHOLDER.findall(variant["text"])) - set(profile.reply_slots())
            assert used <= {f"facility_{name}" for name in topic.needs}, key


def test_a_centers_own_answers_promise_nothing_and_read_well_aloud():
    from bot.facility_faq import load_facility_faq

    for question in load_facility_faq():
        assert not PROMISES.search(question.answer), question.key
        assert not re.search(r"https?://|[*_#`\[\]]|[\U0001F300-\U0001FAFF]",
                             question.answer), question.key
        assert "counselor" in question.answer.lower(), question.key
