"""What one message does to the pre-screen: answer, interrupt, stop or a specific re-ask."""
from __future__ import annotations

import pytest

from bot.prescreen import questions as q
from bot.prescreen.questions import AnswerContext, Message, next_move

PLAIN = AnswerContext()


def move(question, text, intent=None, failures=0, context=PLAIN):
    return next_move(question, Message(text, intent), failures, context)


@pytest.mark.parametrize("question, text, value", [
    (q.FOR_WHOM, "for my son", {"for_whom": "loved_one", "relationship": "parent"}),
    (q.FOR_WHOM, "me", {"for_whom": "self", "relationship": None}),
    (q.FIRST_NAME, "I'm Sam", "Sam"),
    (q.AGE, "he's 17", "under_18"),
    (q.LOCATION, "Illinois 62701", {"state": "IL", "zip": "62701"}),
    # A ZIP code names the state (USPS data in the `zipcodes` package); the ZIP is kept.
    (q.LOCATION, "60601", {"state": "IL", "zip": "60601"}),
    (q.LOCATION, "my zip is 60601", {"state": "IL", "zip": "60601"}),
    (q.LOCATION, "Springfield 62701-1234", {"state": "IL", "zip": "62701"}),
    (q.SUBSTANCES, "booze and xanax", ["alcohol", "benzodiazepines"]),
    (q.USE_PATTERN, "every day, last drink was this morning", {"daily": True, "last_24h": True}),
    (q.USE_PATTERN, "2", {"daily": True, "last_24h": False}),
    (q.USE_PATTERN, "weekends mostly, sober since sunday", {"daily": False, "last_24h": False}),
    (q.WITHDRAWAL, "shakes and sweats in the morning",
     {"symptoms_now": True, "seizure_or_dts": False}),
    (q.WITHDRAWAL, "no, but I had a seizure once when I quit", {"symptoms_now": False,
                                                               "seizure_or_dts": True}),
    (q.WITHDRAWAL, "neither", {"symptoms_now": False, "seizure_or_dts": False}),
    (q.MENTAL_HEALTH, "1", {"co_occurring": False, "suicidal": "no", "unsafe_home": False,
                            "relapsed_after_outpatient": False, "on_moud": False}),
    (q.MENTAL_HEALTH, "2 and 3, 6", {"co_occurring": True, "suicidal": "past", "unsafe_home": False,
                                     "relapsed_after_outpatient": True, "on_moud": False}),
    (q.MENTAL_HEALTH, "depression and anxiety", {"co_occurring": True, "suicidal": None,
                                                 "unsafe_home": False,
                                                 "relapsed_after_outpatient": False,
                                                 "on_moud": False}),
    (q.MENTAL_HEALTH, "he's on suboxone", {"co_occurring": False, "suicidal": None,
                                           "unsafe_home": False,
                                           "relapsed_after_outpatient": False, "on_moud": True}),
    (q.MENTAL_HEALTH, "no", {"co_occurring": False, "suicidal": "no", "unsafe_home": False,
                             "relapsed_after_outpatient": False, "on_moud": False}),
    (q.INSURANCE, "BCBS", {"carrier": "Blue Cross Blue Shield", "member_id": None}),
    (q.INSURANCE, "no insurance", {"carrier": "none", "member_id": None}),
    (q.PHONE, "312-555-0142", {"phone": "+13125550142", "email": None}),
    (q.PHONE, "3125550142 sam@example.com", {"phone": "+13125550142", "email": "sam@example.com"}),
    # An email alone is a way to reach them: kept, with no phone.
    (q.PHONE, "sam@example.com", {"phone": None, "email": "sam@example.com"}),
    (q.PHONE, "email me at Sam@Example.com please", {"phone": None, "email": "sam@example.com"}),
    # Permission is only what was said: no word on voicemail leaves it unknown (None).
    (q.CONTACT_PREFS, "evenings, texting is fine", {"best_time": "evenings", "voicemail_ok": None,
                                                    "text_ok": True, "discreet": False}),
    (q.CONTACT_PREFS, "mornings but please be discreet", {"best_time": "mornings",
                                                          "voicemail_ok": False, "text_ok": False,
                                                          "discreet": True}),
    # No time named: the best time is unknown, not "any time".
    (q.CONTACT_PREFS, "texting is fine", {"best_time": None, "voicemail_ok": None,
                                          "text_ok": True, "discreet": False}),
    (q.CONTACT_PREFS, "anytime, voicemail ok", {"best_time": "anytime", "voicemail_ok": True,
                                                "text_ok": None, "discreet": False}),
    (q.CONTACT_PREFS, "evenings after 6", {"best_time": "evenings, after 6", "voicemail_ok": None,
                                           "text_ok": None, "discreet": False}),
    (q.CONTACT_PREFS, "either is fine", {"best_time": None, "voicemail_ok": True,
                                         "text_ok": True, "discreet": False}),
    (q.CONSENT, "yes I agree", {"contact": True, "privacy": True}),
])
def test_answers_are_read_into_values(question, text, value):
    result = move(question, text)
    assert (result.kind, result.value) == ("answer", value)


def test_a_zip_code_that_does_not_exist_is_not_a_state():
    assert move(q.LOCATION, "00000").kind == "reask"


def test_an_email_alone_skips_the_question_about_calls_and_texts():
    answer = move(q.PHONE, "sam@example.com").value
    assert q.settled_by(q.PHONE, answer) == {q.CONTACT_PREFS: q.SKIPPED}
    assert q.settled_by(q.PHONE, move(q.PHONE, "312-555-0142 sam@example.com").value) == {}


def test_member_id_is_taken_only_when_it_can_be_encrypted():
    text = "aetna, member id W123456789"
    assert move(q.INSURANCE, text).value["member_id"] is None
    wanted = AnswerContext(member_id_wanted=True)
    assert move(q.INSURANCE, text, context=wanted).value["member_id"] == "W123456789"


def test_a_number_the_channel_knows_is_confirmed_with_yes():
    context = AnswerContext(known_phone="+13125550142")
    assert move(q.PHONE, "yes", context=context).value["phone"] == "+13125550142"
    assert move(q.PHONE, "no, use 312 555 0199", context=context).value["phone"] == "+13125550199"


@pytest.mark.parametrize("text", ["stop", "never mind", "Later", "cancel", "not now"])
def test_stop_leaves_politely(text):
    assert move(q.SUBSTANCES, text) == q.Move("stop", outcome=q.STOPPED)


def test_talk_to_a_person_jumps_to_handoff():
    asked = move(q.AGE, "can I talk to a real person", intent="request_human")
    assert asked.outcome == q.WANTS_COUNSELOR


@pytest.mark.parametrize("text, intent", [("how much does iop cost?", "faq"),
                                          ("do you take medicaid", "faq"),
                                          ("what happens in a session", "faq")])
def test_a_question_about_iop_interrupts_and_the_form_resumes(text, intent):
    assert move(q.LOCATION, text, intent=intent).kind == "interrupt"


@pytest.mark.parametrize("question", [q.FIRST_NAME, q.PHONE, q.SUBSTANCES])
def test_asking_whether_it_is_a_person_interrupts_and_the_form_resumes(question):
    asked = move(question, "wait, am i talking to a real person?", intent="ask_about_bot")
    assert asked.kind == "interrupt"


def test_a_question_not_about_iop_is_not_taken_for_an_interruption():
    assert move(q.LOCATION, "what?", intent="out_of_scope").kind == "reask"


def test_an_answer_that_names_a_topic_is_still_an_answer():
    assert move(q.SUBSTANCES, "alcohol", intent="faq").value == ["alcohol"]


def test_crisis_interrupts_everything():
    assert move(q.PHONE, "I took too many pills", intent="crisis").kind == "interrupt"


def test_suicidal_thoughts_right_now_go_to_the_crisis_path():
    result = move(q.MENTAL_HEALTH, "4")
    assert (result.kind, result.outcome) == ("stop", q.SUICIDAL_NOW)


def test_no_consent_means_a_counselor_rather_than_a_call():
    assert move(q.CONSENT, "no").outcome == q.WANTS_COUNSELOR


def test_an_unusable_answer_is_reasked_then_skipped_never_looped():
    first = move(q.AGE, "hmm")
    assert (first.kind, first.failures) == ("reask", 1)
    assert move(q.AGE, "hmm", failures=1) == q.Move("answer", value=q.SKIPPED)


def test_a_phone_that_never_works_offers_a_counselor_instead_of_skipping():
    assert move(q.PHONE, "555", failures=0).kind == "reask"
    assert move(q.PHONE, "555", failures=1).outcome == q.STUCK


def test_optional_questions_can_be_skipped_on_purpose():
    assert move(q.INSURANCE, "prefer not to say").value == q.SKIPPED
    assert move(q.PHONE, "skip").kind == "reask"


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂🙂", "<script>alert(1)</script>",
                                  "'; DROP TABLE leads; --", "x" * 5000])
@pytest.mark.parametrize("question", q.QUESTIONS)
def test_bad_input_gets_a_reask_and_is_never_stored_as_an_answer(question, text):
    assert move(question, text) == q.Move("reask", failures=1)


@pytest.mark.parametrize("question", q.QUESTIONS)
def test_spanish_i_dont_know_is_not_read_as_no(question):
    result = move(question, "no sé")
    if question in q.NEEDED_TO_FOLLOW_UP:
        assert result.kind == "reask"
    else:
        assert result == q.Move("answer", value=q.SKIPPED)
