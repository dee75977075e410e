"""Custom actions run against rasa_sdk trackers, as the action server would run them."""
import asyncio
import datetime as dt

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import handoff
from bot.actions.fallback import ActionFallbackLadder
from bot.actions.handoff import ActionHandoff
from bot.actions.session import ActionSessionStart


def _tracker(events=None, latest_message=None, slots=None) -> Tracker:
    return Tracker(
        sender_id="test", slots=slots or {}, latest_message=latest_message or {},
        events=events or [], paused=False, followup_action=None, active_loop={},
        latest_action_name="action_listen",
    )


def _run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def _user(intent, text="x", ranking=None):
    return {
        "event": "user", "text": text,
        "parse_data": {"intent": {"name": intent}, "text": text},
    }


def test_session_start_fills_facility_slots_and_sends_the_disclosure(profile):
    messages, events = _run(ActionSessionStart(), _tracker(slots={"facility_name": "old name"}))
    assert messages[0]["response"] == "utter_disclosure"
    assert messages[0]["facility_name"] == profile.name
    assert events[0] == SessionStarted()
    assert SlotSet("facility_phone", profile.helpline_phone) in events
    # A stale facility value is replaced from the profile, never carried over.
    assert SlotSet("facility_name", "old name") not in events
    assert events[-1] == ActionExecuted("action_listen")


def test_session_start_carries_over_the_persons_own_slots():
    _, events = _run(ActionSessionStart(), _tracker(slots={"first_name": "Sam", "empty": None}))
    assert SlotSet("first_name", "Sam") in events
    assert not any(e.get("name") == "empty" for e in events)


@pytest.mark.parametrize(
    "utc_time, response, callback",
    [
        (dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc), "utter_handoff_open", None),
        # 02:00 Chicago on a Tuesday: the counselor picks it up when admissions opens.
        (dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.timezone.utc), "utter_handoff_closed",
         "today from 8am Central time"),
        # 10:00 on Christmas Day, a Friday: open hours, but a closed date in the profile.
        (dt.datetime(2026, 12, 25, 16, 0, tzinfo=dt.timezone.utc), "utter_handoff_closed",
         "tomorrow from 9am Central time"),
    ],
)
def test_asking_for_a_person_queues_a_handoff_says_what_happens_next_and_pauses(
    monkeypatch, profile, action_leads_store, utc_time, response, callback
):
    monkeypatch.setattr(handoff, "utc_now", lambda: utc_time)
    messages, events = _run(ActionHandoff(), _tracker())
    assert messages[0]["response"] == response
    assert messages[0]["facility_phone"] == profile.helpline_phone
    assert messages[0].get("callback") == callback
    assert events == [ConversationPaused()]
    queue = action_leads_store().waiting_queue(actor="test")
    assert [(h.conversation_id, h.reason) for h in queue] == [("test", "request_human")]


def test_fallback_first_miss_names_the_closest_topics():
    latest = {
        "text": "how mch $$ insurnce",
        "intent": {"name": "nlu_fallback"},
        "response_selector": {"faq": {"ranking": [
            {"intent_response_key": "faq/cost"}, {"intent_response_key": "faq/insurance"},
        ]}},
    }
    messages, _ = _run(ActionFallbackLadder(), _tracker([_user("nlu_fallback")], latest))
    assert messages[0]["response"] == "utter_clarify_topics"
    assert messages[0]["suggested_topics"] == "cost or insurance"


def test_fallback_second_miss_in_a_row_hands_over_to_a_counselor(action_leads_store):
    events = [_user("nlu_fallback"), {"event": "bot", "text": "..."}, _user("out_of_scope")]
    latest = {"text": "what's the weather", "intent": {"name": "out_of_scope"}}
    messages, events = _run(ActionFallbackLadder(), _tracker(events, latest))
    assert messages[0]["response"] == "utter_offer_counselor_after_misses"
    assert messages[1]["response"] in ("utter_handoff_open", "utter_handoff_closed")
    assert events == [ConversationPaused()]
    assert [h.reason for h in action_leads_store().waiting_queue(actor="test")] == ["fallback"]


def test_fallback_for_an_empty_message_says_no_words_arrived():
    latest = {"text": "", "intent": {"name": "nlu_fallback"}}
    messages, _ = _run(ActionFallbackLadder(), _tracker([_user("nlu_fallback", "")], latest))
    assert messages[0]["response"] == "utter_empty_message"




def test_the_action_server_serves_exactly_the_actions_the_domain_declares():
    from rasa_sdk.executor import ActionExecutor

    from tests.conftest import DOMAIN_DIR, _merged_yaml

    executor = ActionExecutor()
    executor.register_package("bot.actions")
    assert set(executor.actions) == set(_merged_yaml(DOMAIN_DIR, "actions"))
