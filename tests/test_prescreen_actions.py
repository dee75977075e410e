"""The pre-screen's Rasa glue run as the action server runs it: questions, answers, the lead."""
from __future__ import annotations

import asyncio
import hashlib

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.prescreen import (
    ActionPrescreenFinish,
    AskAge,
    AskConsent,
    AskPhone,
    ValidatePrescreenForm,
)
from bot.prescreen import lead as lead_from_slots
from bot.prescreen import questions as q


def tracker(slots=None, text="", intent=None, channel="rest", sender="conv-1") -> Tracker:
    return Tracker(
        sender_id=sender, slots=slots or {}, paused=False, followup_action=None, active_loop={},
        latest_action_name="action_listen",
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9}},
        events=[{"event": "user", "text": text, "input_channel": channel,
                 "parse_data": {"intent": {"name": intent}}}],
    )


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


@pytest.mark.parametrize("response, fingerprint", [
    ("utter_ps_consent", lead_from_slots.CONSENT_WORDING_SHA256),
    ("utter_ps_consent_email", lead_from_slots.EMAIL_CONSENT_WORDING_SHA256),
])
def test_consent_wording_and_its_version_move_together(responses, response, fingerprint):
    text = responses[response][0]["text"]
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == fingerprint, (
        f"{response} changed: bump its wording version and update the fingerprint")


def test_questions_are_worded_for_a_loved_one_and_reworded_after_a_miss():
    loved_one = {q.FOR_WHOM: {"for_whom": "loved_one", "relationship": "parent"}}
    messages, _ = run(AskAge(), tracker(loved_one))
    assert (messages[0]["response"], messages[0]["relation"]) == ("utter_ps_age_loved_one",
                                                                  "your child")
    messages, _ = run(AskAge(), tracker({**loved_one, "ps_failures": 1}))
    assert messages[0]["response"] == "utter_ps_age_retry"


def test_a_number_the_sms_channel_knows_is_confirmed_not_asked(action_leads_store):
    from bot.messaging.store import messaging_store_for
    from bot.settings import load_settings

    action_leads_store()
    messaging_store_for(load_settings().database_url).remember_contact(
        "twilio_sms-0a1b", "twilio_sms", "+13125550142")
    messages, _ = run(AskPhone(), tracker(channel="twilio_sms", sender="twilio_sms-0a1b"))
    assert (messages[0]["response"], messages[0]["known_phone"]) == ("utter_ps_phone_confirm",
                                                                     "(312) 555-0142")
    # The same conversation id on the website, or an SMS conversation with no number on
    # record, is asked for a number.
    messages, _ = run(AskPhone(), tracker(channel="rest", sender="twilio_sms-0a1b"))
    assert messages[0]["response"] == "utter_ps_phone"
    messages, _ = run(AskPhone(), tracker(channel="twilio_sms", sender="twilio_sms-ffff"))
    assert messages[0]["response"] == "utter_ps_phone"


def test_consent_question_records_when_the_wording_was_shown():
    _, events = run(AskConsent(), tracker())
    assert events[0]["name"] == "ps_consent_shown_at" and events[0]["value"]


def test_validation_fills_the_slot_or_reasks_or_steps_aside():
    answered = run(ValidatePrescreenForm(), tracker({"requested_slot": q.AGE}, "I'm 40"))[1]
    assert SlotSet(q.AGE, "adult") in answered
    reask = run(ValidatePrescreenForm(), tracker({"requested_slot": q.AGE}, "purple"))[1]
    assert reask == [SlotSet(q.AGE, None), SlotSet("ps_failures", 1)]
    faq = run(ValidatePrescreenForm(),
              tracker({"requested_slot": q.AGE}, "what does it cost?", "faq"))
    assert faq[1] == []  # rejected: the FAQ rule answers, then the form asks again


FINISHED = {
    q.FOR_WHOM: {"for_whom": "self", "relationship": None}, q.FIRST_NAME: "Sam", q.AGE: "adult",
    q.LOCATION: {"state": "IL", "zip": None}, q.SUBSTANCES: ["opioids"],
    q.USE_PATTERN: {"daily": True, "last_24h": True}, q.WITHDRAWAL: q.SKIPPED,
    q.MENTAL_HEALTH: {"co_occurring": False, "suicidal": "no"},
    q.INSURANCE: {"carrier": "Medicaid", "member_id": None},
    q.PHONE: {"phone": "+13125550142", "email": None},
    q.CONTACT_PREFS: {"best_time": "mornings", "voicemail_ok": True, "text_ok": True,
                      "discreet": False},
    q.CONSENT: {"contact": True, "privacy": True},
    "ps_consent_shown_at": "2026-11-23T08:00:00+00:00",
}


def test_a_finished_prescreen_writes_the_lead_queues_a_handoff_and_pauses(action_leads_store):
    messages, events = run(ActionPrescreenFinish(), tracker(FINISHED))
    assert messages[0]["response"] in ("utter_ps_done_open", "utter_ps_done_closed")
    assert messages[0]["name"] == "Sam"
    assert events[-1] == ConversationPaused()
    assert SlotSet(q.FIRST_NAME, None) in events  # a new pre-screen starts from scratch
    row = next(action_leads_store().export_rows(actor="test"))
    assert (row["first_name"], row["phone"], row["care_route"], row["consent_privacy"]) == (
        "Sam", "+13125550142", "detox_first", True)  # daily opioids, no medication answer
    assert [h.priority for h in action_leads_store().waiting_queue(actor="test")] == [1]


def test_stopping_keeps_a_partial_lead_without_a_handoff_or_pause(action_leads_store):
    slots = {q.FOR_WHOM: FINISHED[q.FOR_WHOM], q.FIRST_NAME: "Sam", "ps_outcome": q.STOPPED}
    messages, events = run(ActionPrescreenFinish(), tracker(slots))
    assert messages[0]["response"] == "utter_ps_stopped"
    assert ConversationPaused() not in events
    row = next(action_leads_store().export_rows(actor="test"))
    assert (row["status"], row["first_name"]) == ("incomplete", "Sam")
    assert action_leads_store().waiting_queue(actor="test") == []


def test_stopping_before_any_answer_stores_nothing(action_leads_store):
    run(ActionPrescreenFinish(), tracker({"ps_outcome": q.STOPPED}))
    assert list(action_leads_store().export_rows(actor="test")) == []


def test_with_the_database_down_the_person_still_gets_next_steps_and_the_lead_waits(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/leads")
    monkeypatch.setenv("LEAD_SPOOL_DIR", str(tmp_path / "spool"))
    messages, events = run(ActionPrescreenFinish(), tracker(FINISHED))
    assert messages[0]["response"] in ("utter_ps_done_open", "utter_ps_done_closed")
    assert events[-1] == ConversationPaused()
    assert len(list((tmp_path / "spool").glob("*.json"))) == 1


@pytest.mark.parametrize("situation, route", [
    ({"co_occurring": False, "suicidal": "no", "on_moud": True}, "iop_candidate"),
    ({"co_occurring": False, "suicidal": "no", "unsafe_home": True, "on_moud": True},
     "higher_level"),
])
def test_the_situation_answers_shape_the_care_route_staff_see(action_leads_store, situation, route):
    run(ActionPrescreenFinish(), tracker({**FINISHED, q.MENTAL_HEALTH: situation}))
    assert next(action_leads_store().export_rows(actor="test"))["care_route"] == route


def test_an_email_instead_of_a_phone_is_kept_and_the_questions_after_it_fit(
    action_leads_store, responses
):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bot.leads.schema import Consent
    from bot.prescreen.lead import EMAIL_CONSENT_WORDING_VERSION

    _, events = run(ValidatePrescreenForm(), tracker({"requested_slot": q.PHONE},
                                                     "sam@example.com"))
    email_only = {"phone": None, "email": "sam@example.com"}
    assert SlotSet(q.PHONE, email_only) in events
    # No phone: no question about call times, voicemail or texts.
    assert SlotSet(q.CONTACT_PREFS, q.SKIPPED) in events

    slots = {**FINISHED, q.PHONE: email_only, q.CONTACT_PREFS: q.SKIPPED}
    messages, _ = run(AskConsent(), tracker(slots))
    assert messages[0]["response"] == "utter_ps_consent_email"
    assert "email address" in responses["utter_ps_consent_email"][0]["text"]
    assert "number" not in responses["utter_ps_consent_email"][0]["text"]
    messages, _ = run(AskConsent(), tracker({**slots, "ps_failures": 1}))
    assert messages[0]["response"] == "utter_ps_consent_email_retry"

    messages, _ = run(ActionPrescreenFinish(), tracker(slots))
    assert messages[0]["response"] in ("utter_ps_done_open", "utter_ps_done_closed")
    row = next(action_leads_store().export_rows(actor="test"))
    assert (row["phone"], row["email"], row["best_time"], row["status"]) == (
        None, "sam@example.com", None, "complete")
    with Session(action_leads_store().engine, future=True) as session:
        versions = set(session.execute(select(Consent.wording_version)).scalars())
    assert versions == {EMAIL_CONSENT_WORDING_VERSION}  # the wording they were shown


def test_a_best_time_never_named_stays_empty(action_leads_store):
    _, events = run(ValidatePrescreenForm(), tracker({"requested_slot": q.CONTACT_PREFS},
                                                     "texting is fine"))
    (prefs,) = [e["value"] for e in events if e.get("name") == q.CONTACT_PREFS]
    run(ActionPrescreenFinish(), tracker({**FINISHED, q.CONTACT_PREFS: prefs}))
    row = next(action_leads_store().export_rows(actor="test"))
    assert (row["best_time"], row["text_ok"]) == (None, True)
