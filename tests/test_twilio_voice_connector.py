"""The voice webhook as Twilio and a caller hear it, with a scripted assistant behind it.

TwiML is parsed as XML and checked verb by verb. The real assistant takes a whole call,
pre-screen and transfer included, in tests/test_stack_twilio.py.
"""
from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.leads.database import make_engine
from bot.leads.schema import Lead
from scripts.twilio_local import PUBLIC_BASE_URL, signed_post

PATH = "/webhooks/twilio_voice/webhook"


@pytest.fixture
def call(twilio_server):
    url, api, assistant, var_dir = twilio_server
    assistant.__init__()
    phone = f"+1312555{uuid.uuid4().int % 10000:04d}"
    call_sid = f"CA{uuid.uuid4().hex}"

    class Call:
        bot = assistant
        turn = 0

        def post(self, query: str = "", **params):
            """The next turn of the call, numbered as the previous answer's URLs number it."""
            form = {"CallSid": call_sid, "From": phone, "To": "+15550104400",
                    "CallStatus": "in-progress", **params}
            if query and "t=" not in query:
                self.turn += 1
                query += f"&t={self.turn}"
            path = PATH + (f"?{query}" if query else "")
            answer = signed_post(url, path, form)
            assert answer.status_code == 200, answer.text
            return ElementTree.fromstring(answer.text)

        def lead(self):
            engine = make_engine(f"sqlite:///{var_dir}/leads.db")
            with Session(engine, future=True) as session:
                return session.execute(select(Lead).where(Lead.phone_e164 == phone)).scalar_one()

    return Call()


def query_of(url: str) -> tuple[str, str | None, str]:
    """(step, n, t) of a webhook URL an answer gives Twilio."""
    query = parse_qs(urlsplit(url).query)
    return query["step"][0], query.get("n", [None])[0], query["t"][0]


def step_of(url: str) -> str:
    return query_of(url)[0]


def said(twiml) -> list[str]:
    return [say.text for say in twiml.iter("Say")]


def test_a_new_call_starts_a_session_and_listens_for_speech_or_keys(call):
    call.bot.reply = "Hi, I'm the automated assistant. Press 0 or say 'counselor' any time."
    twiml = call.post()
    assert call.bot.heard[0][1] == "/session_start"
    gather = twiml.find("Gather")
    assert gather.get("input") == "speech dtmf"
    assert gather.get("speechTimeout") == "auto"
    assert int(gather.get("timeout")) <= 10
    assert gather.get("action") == f"{PUBLIC_BASE_URL}{PATH}?step=answer&t=1"
    hints = gather.get("hints").lower()
    assert "suboxone" in hints and "aetna" in hints and "fentanyl" in hints
    assert said(gather) == ["Hi, I'm the automated assistant. Press 0 or say 'counselor' any time."]
    # Silence falls through the Gather to a reprompt.
    assert twiml.find("Redirect").text == f"{PUBLIC_BASE_URL}{PATH}?step=silence&n=1&t=1"


def test_speech_and_digits_reach_the_assistant_and_the_reply_is_spoken(call):
    call.bot.reply = "Call 988 or visit https://example.org 💙"
    twiml = call.post("step=answer", SpeechResult="how much does it cost", Confidence="0.9")
    assert call.bot.heard[-1][1] == "how much does it cost"
    assert said(twiml) == ["Call 9 8 8 or visit"]
    call.post("step=answer", Digits="2")
    assert call.bot.heard[-1][1] == "2"


def test_zero_on_the_keypad_asks_for_a_counselor(call):
    call.post("step=answer", Digits="0")
    assert call.bot.heard[-1][1] == "counselor"


def test_silence_gets_one_reprompt_then_a_counselor_offer_then_goodbye(call):
    first = call.post("step=silence&n=1")
    assert "didn't hear anything" in said(first)[0]
    assert query_of(first.find("Redirect").text)[:2] == ("silence", "2")
    second = call.post("step=silence&n=2")
    assert "counselor" in said(second)[0] and "Press 0" in said(second)[0]
    assert query_of(second.find("Redirect").text)[:2] == ("silence", "3")
    last = call.post("step=silence&n=3")
    assert "Goodbye" in said(last)[0] and last.find("Hangup") is not None
    assert call.bot.heard == []  # silence is not sent to the assistant as words


def test_a_transfer_reply_dials_admissions_from_the_helpline_number(call):
    call.bot.reply, call.bot.custom = "Connecting you now.", {"voice": "transfer"}
    twiml = call.post("step=answer", SpeechResult="counselor")
    assert said(twiml) == ["Connecting you now."]
    dial = twiml.find("Dial")
    assert dial.find("Number").text == "+15550104499"
    assert dial.get("callerId") == "+15550104400"
    assert step_of(dial.get("action")) == "after_dial"


def test_after_hours_the_caller_is_asked_when_to_call_back_and_it_is_stored(call):
    call.bot.reply = "A counselor will call you back tomorrow from 8am."
    call.bot.custom = {"voice": "hang_up"}
    twiml = call.post("step=answer", SpeechResult="counselor")
    gather = twiml.find("Gather")
    assert said(gather)[0] == "A counselor will call you back tomorrow from 8 a.m."
    assert "best time" in said(gather)[1]
    assert step_of(gather.get("action")) == "callback_time" and twiml.find("Dial") is None
    assert twiml.find("Hangup") is not None  # after the question, if they say nothing
    done = call.post("step=callback_time", SpeechResult="tomorrow after 5")
    assert "passed that on" in said(done)[0] and done.find("Hangup") is not None
    lead = call.lead()
    assert (lead.best_time, lead.channel, lead.status) == ("tomorrow after 5", "twilio_voice",
                                                           "incomplete")
    # Asked once: the next after-hours handoff from this number just says goodbye.
    again = call.post("step=answer", SpeechResult="counselor")
    assert again.find("Gather") is None and "Goodbye" in said(again)[-1]


def test_a_crisis_reply_offers_988_and_listens_for_the_answer(call, responses):
    voice_reply = next(v for v in responses["utter_crisis"] if v.get("channel") == "twilio_voice")
    call.bot.reply, call.bot.custom = voice_reply["text"], {"voice": "offer_988"}
    twiml = call.post("step=answer", SpeechResult="I want to end it all")
    assert step_of(twiml.find("Gather").get("action")) == "offer_988"
    assert len(said(twiml)) == 1 and "press 1" in said(twiml)[0]  # said once, not doubled


def test_a_crisis_the_assistant_missed_still_gets_the_spoken_crisis_reply(call):
    call.bot.reply = "Sorry, I couldn't make that out."
    twiml = call.post("step=answer", SpeechResult="my son is not breathing")
    assert any("9 1 1" in text for text in said(twiml))
    assert step_of(twiml.find("Gather").get("action")) == "offer_988"


def test_a_caller_in_crisis_hears_911_even_when_the_profile_cannot_be_read(call,
                                                                            unreadable_profile):
    call.bot.reply = "Sorry, I couldn't make that out."
    twiml = call.post("step=answer", SpeechResult="my son is not breathing")
    assert any("9 1 1" in text for text in said(twiml))
    assert step_of(twiml.find("Gather").get("action")) == "offer_988"


def test_when_no_one_answers_the_transfer_the_caller_hears_about_a_callback(call):
    twiml = call.post("step=after_dial", DialCallStatus="no-answer")
    assert "call you back" in said(twiml)[0] and twiml.find("Hangup") is not None


def test_a_caller_in_crisis_can_be_connected_to_988(call):
    accepted = call.post("step=offer_988", Digits="1")
    assert accepted.find("Dial").text == "988"
    by_voice = call.post("step=offer_988", SpeechResult="yes please connect me")
    assert by_voice.find("Dial").text == "988"
    # Anything else is an answer for the assistant, not a transfer.
    other = call.post("step=offer_988", SpeechResult="what does detox involve")
    assert other.find("Dial") is None and call.bot.heard[-1][1] == "what does detox involve"


def test_forged_voice_webhooks_get_403(twilio_server):
    url = twilio_server[0]
    form = {"CallSid": "CA1", "From": "+13125550142", "SpeechResult": "hi"}
    assert signed_post(url, PATH, form, token="wrong").status_code == 403
    assert signed_post(url, "/webhooks/twilio_voice/status", form, token="wrong").status_code == 403


def test_a_withheld_number_is_told_kindly_and_not_sent_to_the_assistant(twilio_server):
    url, _, assistant, _ = twilio_server
    assistant.__init__()
    answer = signed_post(url, PATH, {"CallSid": "CA2", "From": "anonymous"})
    twiml = ElementTree.fromstring(answer.text)
    assert "9 1 1" in said(twiml)[0] and twiml.find("Hangup") is not None
    assert assistant.heard == []


# The test profile's admissions hours are Central time: 10 a.m. and 3 a.m. on a Tuesday.
OPEN_HOURS = dt.datetime(2026, 12, 1, 16, 0, tzinfo=dt.timezone.utc)
AFTER_HOURS = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
# 10 a.m. on Christmas Day, a Friday: within the weekday's hours, but a closed date.
CLOSED_DATE = dt.datetime(2026, 12, 25, 16, 0, tzinfo=dt.timezone.utc)


def test_a_waiting_caller_is_put_through_while_admissions_is_open(call, monkeypatch):
    from connectors import twilio_voice

    monkeypatch.setattr(twilio_voice, "_now", lambda: OPEN_HOURS)
    call.bot.reply = ""  # paused for a counselor: the assistant says nothing more
    twiml = call.post("step=answer", SpeechResult="hello? is anyone there")
    assert "connect you" in said(twiml)[0]
    assert twiml.find("Dial").find("Number").text == "+15550104499"


def test_a_waiting_caller_on_a_closed_date_is_not_put_through(call, monkeypatch):
    from connectors import twilio_voice

    monkeypatch.setattr(twilio_voice, "_now", lambda: CLOSED_DATE)
    call.bot.reply = ""
    twiml = call.post("step=answer", SpeechResult="hello? is anyone there")
    assert twiml.find("Dial") is None  # nobody is at the admissions desk on Christmas
    assert "call you back tomorrow from 9" in said(twiml)[0]


def test_a_waiting_caller_is_still_listened_to_when_the_profile_cannot_be_read(
        call, monkeypatch, unreadable_profile):
    from connectors import twilio_voice

    monkeypatch.setattr(twilio_voice, "_now", lambda: OPEN_HOURS)
    call.bot.reply = ""
    twiml = call.post("step=answer", SpeechResult="hello? is anyone there")
    # Hours unknown: not put through to a desk that may be empty, and not hung up on.
    assert twiml.find("Dial") is None and twiml.find("Hangup") is None
    assert "as soon as admissions opens" in said(twiml)[0]
    assert step_of(twiml.find("Gather").get("action")) == "answer"


def test_a_waiting_caller_after_hours_hears_when_and_is_still_listened_to(call, monkeypatch):
    from connectors import twilio_voice

    monkeypatch.setattr(twilio_voice, "_now", lambda: AFTER_HOURS)
    call.bot.reply = ""
    twiml = call.post("step=answer", SpeechResult="hello? is anyone there")
    assert twiml.find("Dial") is None  # nobody answers admissions at 3 a.m.
    assert "call you back today from 8" in said(twiml)[0]
    assert step_of(twiml.find("Gather").get("action")) == "answer"
    # Still listening: a crisis said now gets the crisis reply and the offer to connect to 988.
    crisis = call.post("step=answer", SpeechResult="i took all my pills")
    assert any("9 1 1" in text for text in said(crisis))
    assert step_of(crisis.find("Gather").get("action")) == "offer_988"


class ActiveConversations:
    """Rasa's tracker store holding a conversation nobody paused."""

    async def retrieve(self, conversation_id):
        return type("Stored", (), {"is_paused": lambda self: False, "latest_message": None})()


def test_a_turn_an_action_failed_on_after_hours_asks_again_not_a_callback(call, monkeypatch):
    from connectors import twilio_voice

    monkeypatch.setattr(twilio_voice, "_now", lambda: AFTER_HOURS)
    monkeypatch.setattr(twilio_voice, "tracker_store_of", lambda request: ActiveConversations())
    call.bot.reply = ""  # silent, yet no handoff is waiting: the action server failed
    twiml = call.post("step=answer", SpeechResult="Sam")
    assert said(twiml)[0].startswith("Sorry, something went wrong on my side. Please say")
    assert "call you back" not in " ".join(said(twiml))  # no callback was ever asked for
    assert step_of(twiml.find("Gather").get("action")) == "answer"
    # While admissions is open the caller is put through, as a waiting caller is.
    monkeypatch.setattr(twilio_voice, "_now", lambda: OPEN_HOURS)
    twiml = call.post("step=answer", SpeechResult="Sam")
    assert twiml.find("Dial").find("Number").text == "+15550104499"


def test_a_crisis_said_when_asked_for_a_callback_time_gets_the_crisis_reply(call):
    call.bot.reply = ""
    twiml = call.post("step=callback_time", SpeechResult="honestly I want to kill myself")
    assert any("9 1 1" in text for text in said(twiml))
    assert call.bot.heard[-1][1] == "honestly I want to kill myself"


def test_a_retried_turn_gets_the_same_answer_without_a_second_effect(call):
    call.bot.reply = "We take most insurance."
    first = call.post("step=answer&t=5", SpeechResult="do you take aetna")
    again = call.post("step=answer&t=5", SpeechResult="do you take aetna")
    assert ElementTree.tostring(first) == ElementTree.tostring(again)
    assert [text for _, text in call.bot.heard] == ["do you take aetna"]
    # The same words at the next turn are a new turn, not a retry.
    call.post("step=answer&t=6", SpeechResult="do you take aetna")
    assert len(call.bot.heard) == 2


def test_the_988_offer_is_not_talked_over_by_a_handoff_in_the_same_turn(twilio_server):
    from connectors.twilio_common import channel_config
    from connectors.twilio_voice import render_turn

    messages = [{"text": "Press 1 to be connected to 988 now."}, {"custom": {"voice": "offer_988"}},
                {"text": "I'm connecting you to a counselor."}, {"custom": {"voice": "transfer"}}]
    twiml = ElementTree.fromstring(str(render_turn(messages, channel_config())))
    assert said(twiml) == ["Press 1 to be connected to 9 8 8 now."]
    assert twiml.find("Dial") is None
    assert step_of(twiml.find("Gather").get("action")) == "offer_988"
