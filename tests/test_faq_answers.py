"""Which reply answers a question: the topic's answer, an honest "no detail", a named plan."""
import asyncio

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.faq import ActionAnswerQuestion
from bot.facility import load_profile, parse_profile
from bot.faq_answers import answer_for, missing_details
from bot.faq_topics import FaqTopicsError, known_details, load_topics, parse_topics
from bot.settings import BOT_DIR

# The shipped sample, whatever FACILITY_PROFILE a center points its own servers at: these
# tests check the choice of reply, and the sample's empty fields are part of it.
SAMPLE = BOT_DIR / "facility_profile.yml"


@pytest.fixture
def profile():
    return load_profile(SAMPLE)


def _raw_profile():
    return yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))


def _profile_without(*details):
    raw = _raw_profile()
    for name in details:
        raw["details"][name] = ""
    return parse_profile(raw)


def test_a_topic_whose_facts_are_filled_gets_its_own_answer(profile):
    assert answer_for("drug_testing", load_topics(), profile).response == "utter_faq/drug_testing"


def test_a_topic_whose_fact_is_empty_says_so_and_names_the_topic():
    answer = answer_for("drug_testing", load_topics(), _profile_without("drug_testing"))
    assert answer.response == "utter_faq_no_detail"
    assert answer.values == {"topic_label": "drug testing"}


def test_one_missing_fact_of_several_is_enough_to_defer():
    answer = answer_for("getting_here", load_topics(), _profile_without("parking"))
    assert answer.response == "utter_faq_no_detail"


def test_the_sample_profile_leaves_smoking_and_service_animals_to_a_counselor(profile):
    topics = load_topics()
    empty = {key for key, topic in topics.items() if missing_details(topic, profile)}
    assert empty == {"smoking", "service_animals"}


def test_the_basics_need_no_details_and_are_always_answered():
    bare = _raw_profile()
    bare.pop("details")
    profile = parse_profile(bare)
    assert answer_for("cost", load_topics(), profile).response == "utter_faq/cost"
    assert answer_for("holidays", load_topics(), profile).response == "utter_faq_no_detail"


@pytest.mark.parametrize(
    "insurer, response",
    [("Aetna", "utter_insurance_listed"), ("Tricare", "utter_insurance_not_listed"),
     (None, "utter_faq/insurance")],
)
def test_a_named_plan_is_told_whether_it_is_on_the_list(profile, insurer, response):
    answer = answer_for("insurance", load_topics(), profile, insurer=insurer,
                        accepted_insurers={"Aetna", "Medicaid"})
    assert answer.response == response
    if insurer:
        assert answer.values == {"insurer": insurer}


def test_a_centers_own_question_is_answered_with_its_own_reply(profile):
    answer = answer_for("center_completion_certificate", load_topics(), profile)
    assert answer.response == "utter_faq/center_completion_certificate"


def test_every_profile_detail_is_one_some_topic_reads(profile):
    """A misspelt field in the profile would otherwise be ignored without a word."""
    assert set(_raw_profile()["details"]) <= known_details(load_topics())


def test_a_catalogue_entry_without_an_english_label_is_refused():
    with pytest.raises(FaqTopicsError, match="label.en"):
        parse_topics({"topics": {"x": {"label": {"es": "x"}}}})


def _answer(text, topic, language=None):
    tracker = Tracker(
        sender_id="t", slots={"language": language}, events=[], paused=False,
        followup_action=None, active_loop={}, latest_action_name="action_listen",
        latest_message={"text": text, "intent": {"name": "faq"}, "response_selector": {
            "faq": {"response": {"intent_response_key": f"faq/{topic}"}}}},
    )
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAnswerQuestion().run(dispatcher, tracker, {}))
    return dispatcher.messages


def test_the_action_names_the_plan_the_question_named(profile):
    [message] = _answer("do you take tricare?", "insurance")
    assert message["response"] == "utter_insurance_not_listed"
    assert message["insurer"] == "Tricare"
    assert message["facility_insurers"] == profile.reply_slots()["facility_insurers"]


def test_the_action_compares_plans_as_the_extractor_spells_them():
    # The profile lists "Medicaid (Illinois)"; the question says "medicaid".
    [message] = _answer("is medicaid ok", "insurance")
    assert message["response"] == "utter_insurance_listed"


def test_the_action_fills_the_topic_answer_from_the_profile_details(profile):
    [message] = _answer("do you drug test", "drug_testing")
    assert message["response"] == "utter_faq/drug_testing"
    assert message["facility_drug_testing"] == profile.details["drug_testing"]


def test_the_action_with_no_topic_says_it_has_no_reliable_answer():
    tracker = Tracker(sender_id="t", slots={}, events=[], paused=False, followup_action=None,
                      active_loop={}, latest_action_name="action_listen",
                      latest_message={"text": "?", "intent": {"name": "faq"}})
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAnswerQuestion().run(dispatcher, tracker, {}))
    assert dispatcher.messages[0]["response"] == "utter_question_not_covered"
