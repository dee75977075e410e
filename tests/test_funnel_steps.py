"""What the event stream carries: a funnel step per event that marks one, and nothing else."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.funnel.steps import conversation_key, funnel_record, valid_record

SECRET = b"test-secret"
SENDER = "+13125550142"  # as an SMS conversation id might look, if one ever were a number


EVENT_DAY = dt.date(2026, 12, 6)  # the day of the timestamp below, in UTC


def event(**fields):
    return {"sender_id": SENDER, "timestamp": 1796550000.5, **fields}


@pytest.mark.parametrize("streamed, step", [
    (event(event="user", text="I need help for my son", input_channel="website",
           parse_data={"intent": {"name": "start_prescreen"}, "text": "I need help"}),
     "conversation"),
    (event(event="action", name="action_answer_question"), "question_answered"),
    (event(event="active_loop", name="prescreen_form"), "prescreen_started"),
    (event(event="slot", name="ps_outcome", value="completed"), "prescreen_completed"),
    (event(event="action", name="action_handoff"), "handoff"),
    (event(event="action", name="utter_crisis"), "crisis"),
])
def test_each_step_is_a_record_with_no_text_or_conversation_id(streamed, step):
    record = funnel_record(streamed, SECRET)
    assert record["step"] == step
    assert set(record) == {"conversation", "step", "channel", "at"}
    published = json.dumps(record)
    for private in ("son", "help", SENDER, "5550142", "start_prescreen"):
        assert private not in published
    assert record["conversation"] == conversation_key(SECRET, SENDER, EVENT_DAY)
    assert valid_record(record)


@pytest.mark.parametrize("streamed", [
    event(event="bot", text="Here is our number", metadata={"utter_action": "utter_crisis"}),
    event(event="slot", name="ps_first_name", value="Maria"),
    event(event="slot", name="ps_phone", value="312-555-0142"),
    event(event="slot", name="ps_outcome", value="stopped"),
    event(event="active_loop", name=None),
    event(event="action", name="action_listen"),
    event(event="session_started"),
    {"event": "user", "text": "no sender"},
    event(event="user", sender_id=["not", "a", "string"]),
])
def test_events_that_mark_no_step_are_not_published(streamed):
    assert funnel_record(streamed, SECRET) is None


def test_the_channel_is_kept_only_for_known_channels_and_only_on_the_first_step():
    assert funnel_record(event(event="user", input_channel="twilio_sms"),
                         SECRET)["channel"] == "twilio_sms"
    assert funnel_record(event(event="user", input_channel="<script>alert(1)</script>"),
                         SECRET)["channel"] is None
    assert funnel_record(event(event="action", name="action_handoff",
                               input_channel="website"), SECRET)["channel"] is None


def test_the_time_is_kept_to_the_day_so_it_cannot_be_matched_to_the_tracker_or_a_lead():
    record = funnel_record(event(event="action", name="utter_crisis"), SECRET)  # 09:40 UTC
    assert record["at"] == 1796515200.0  # that day's midnight, UTC
    assert funnel_record(event(event="action", name=["utter_crisis"]), SECRET) is None


def test_the_conversation_key_needs_the_secret():
    # Without the key, hashing every phone number does not find the conversation.
    assert (conversation_key(SECRET, SENDER, EVENT_DAY)
            != conversation_key(b"another", SENDER, EVENT_DAY))
    assert (conversation_key(SECRET, SENDER, EVENT_DAY)
            != conversation_key(SECRET, SENDER + "1", EVENT_DAY))


def test_someone_who_comes_back_another_day_is_counted_again_and_not_linked():
    first = funnel_record(event(event="user", input_channel="website"), SECRET)
    same_day = funnel_record(event(event="user", input_channel="website",
                                   timestamp=1796550000.5 + 3600), SECRET)
    next_week = funnel_record(event(event="user", input_channel="website",
                                    timestamp=1796550000.5 + 7 * 86400), SECRET)
    assert first["conversation"] == same_day["conversation"]  # counted once that day
    assert first["conversation"] != next_week["conversation"]  # a new visit, counted again


def test_an_event_with_no_usable_time_is_keyed_to_today():
    record = funnel_record(event(event="user", timestamp="soon"), SECRET)
    today = dt.datetime.now(dt.timezone.utc).date()
    assert record["at"] is None
    assert record["conversation"] in {conversation_key(SECRET, SENDER, day)
                                      for day in (today, today - dt.timedelta(days=1))}


@pytest.mark.parametrize("received", [
    None, [], "conversation", {"conversation": "x" * 64, "step": "lead_details"},
    {"conversation": 42, "step": "crisis"},
    {"conversation": "x" * 64, "step": "crisis", "channel": "carrier pigeon"},
    {"conversation": "x" * 64, "step": "crisis", "at": "yesterday"},
    {"conversation": "x" * 10, "step": "crisis"},
    {"conversation": "x" * 64, "step": "crisis", "text": "I want to die"},
    {"conversation": "x" * 64, "step": "handoff", "channel": []},
    {"conversation": "x" * 64, "step": "crisis", "at": float("nan")},
    {"conversation": "x" * 64, "step": "crisis", "at": 1e400},
    {"conversation": "x" * 64, "step": "crisis", "at": 1e15},
    {"conversation": "x" * 64, "step": "crisis", "at": True},
    {"conversation": "\x00" * 64, "step": "crisis"},
])
def test_the_consumer_refuses_anything_not_shaped_like_a_record(received):
    assert not valid_record(received)
