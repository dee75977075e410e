"""The helpline number end to end: signed Twilio webhooks into the real Rasa and action servers.

Outbound texts (staff alerts) go through the official SDK to a local stand-in for the Twilio
API. Admissions is open around the clock in this test's facility profile, so a finished call
always ends in a transfer; the after-hours wording is checked in tests/test_replies.py.
"""
from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ElementTree

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.leads.database import make_engine
from bot.leads.schema import ConversationContact, Handoff, Lead
from bot.settings import BOT_DIR
from scripts.twilio_local import (
    FakeTwilioApi,
    signed_post,
    sms_params,
    twilio_environment,
    twiml_messages,
)
from tests.stack_helpers import throwaway_stack
from tests.test_twilio_voice_connector import step_of

pytestmark = pytest.mark.stack

SMS = "/webhooks/twilio_sms/webhook"
VOICE = "/webhooks/twilio_voice/webhook"
STATUS = "/webhooks/twilio_voice/status"
ADMISSIONS = "+15550104499"
STAFF = ("+17735550191", "+17735550192")


def always_open_profile(path) -> str:
    profile = yaml.safe_load((BOT_DIR / "facility_profile.yml").read_text(encoding="utf-8"))
    profile["admissions"]["hours"] = {day: "00:00-23:59" for day in
                                      ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def helpline(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("twilio-stack")
    var_dir = workdir / "var"
    with FakeTwilioApi() as api:
        env = twilio_environment(api, var_dir)
        env.update(FACILITY_PROFILE=always_open_profile(workdir / "profile.yml"),
                   ONCALL_STAFF_NUMBERS=",".join(STAFF))
        with throwaway_stack(workdir, extra_env=env) as stack:
            engine = make_engine(env["DATABASE_URL"])
            yield stack, api, engine, var_dir
            engine.dispose()


def new_number() -> str:
    return f"+1312555{uuid.uuid4().int % 10000:04d}"


def texter(helpline, phone=None):
    stack, *_ = helpline
    phone = phone or new_number()
    return lambda body: twiml_messages(signed_post(
        stack.rasa_url, SMS, sms_params(phone, body, f"SM{uuid.uuid4().hex}")))


class Caller:
    def __init__(self, helpline, phone=None):
        self.url = helpline[0].rasa_url
        self.phone = phone or new_number()
        self.call_sid = f"CA{uuid.uuid4().hex}"

    turn = 0

    def post(self, path=VOICE, query="", **params):
        """The next turn, numbered as the previous answer's webhook URLs number it."""
        form = {"CallSid": self.call_sid, "From": self.phone, "To": "+15550104400",
                "CallStatus": "in-progress", **params}
        if query and "t=" not in query:
            self.turn += 1
            query += f"&t={self.turn}"
        answer = signed_post(self.url, path + (f"?{query}" if query else ""), form)
        if path == STATUS:
            assert answer.status_code == 204  # Twilio reads nothing from a status callback
            return None
        assert answer.status_code == 200, answer.text
        return ElementTree.fromstring(answer.text)

    def say(self, speech):
        return self.post(query="step=answer", SpeechResult=speech, Confidence="0.92")

    def press(self, digits, query="step=answer"):
        return self.post(query=query, Digits=digits)


def spoken(twiml) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))


def lead_with_phone(engine, phone) -> Lead | None:
    with Session(engine, future=True) as session:
        return session.execute(select(Lead).where(Lead.phone_e164 == phone)).scalar_one_or_none()


def test_a_text_gets_the_automated_disclosure_inline(helpline):
    replies = texter(helpline)("hi")
    assert any("automated assistant" in r for r in replies)
    assert all(len(r) <= 320 for r in replies)


def test_a_crisis_text_gets_911_and_text_988(helpline):
    replies = " ".join(texter(helpline)("i took a bunch of pills and i cant wake my friend up"))
    assert "911" in replies and "text 988" in replies


def test_a_text_while_waiting_for_a_counselor_is_acknowledged(helpline, filled):
    say = texter(helpline)
    say("can I talk to a real person")
    assert say("hello? anyone there") == [filled("utter_waiting_for_counselor")]


def test_a_retried_message_is_answered_once(helpline):
    stack, *_ = helpline
    params = sms_params(new_number(), "what are your hours", f"SM{uuid.uuid4().hex}")
    first = twiml_messages(signed_post(stack.rasa_url, SMS, params))
    again = twiml_messages(signed_post(stack.rasa_url, SMS, params))
    assert first and again == []


def test_the_conversation_store_is_not_keyed_by_phone_numbers(helpline):
    _, _, engine, var_dir = helpline
    phone = new_number()
    texter(helpline, phone)("what does iop cost")
    import sqlite3
    with sqlite3.connect(var_dir / "tracker.db") as tracker_db:
        senders = [row[0] for row in tracker_db.execute("SELECT DISTINCT sender_id FROM events")]
    assert senders and not any(phone[2:] in sender for sender in senders)
    with Session(engine, future=True) as session:
        (contact,) = session.execute(select(ConversationContact).where(
            ConversationContact.phone_e164 == phone)).scalars()
    assert contact.conversation_id in senders and contact.channel == "twilio_sms"


def test_after_stop_not_even_a_staff_alert_reaches_that_number(helpline):
    _, api, engine, _ = helpline
    opted_out, still_in = STAFF
    assert "unsubscribed" in texter(helpline, opted_out)("STOP")[0]
    api.requests.clear()
    person = texter(helpline)
    person("hello")
    handed = person("I want to talk to a real person")
    assert any("counselor" in r for r in handed)

    def notify_errors():
        with Session(engine, future=True) as session:
            return session.execute(select(Handoff.notify_error).where(
                Handoff.notify_error.is_not(None))).scalars().all()

    # The alert is sent first and its outcome recorded after, so wait for both.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (api.texts_to(still_in) and notify_errors()):
        time.sleep(0.2)
    assert api.texts_to(still_in) == ["New admissions handoff, priority normal: open the console"]
    assert api.texts_to(opted_out) == []
    assert "recipient opted out" in notify_errors()
    assert "subscribed again" in texter(helpline, opted_out)("START")[0]


def test_a_scripted_call_finishes_the_prescreen_and_is_put_through(helpline):
    engine = helpline[2]
    call = Caller(helpline)
    greeting = call.post()
    assert "automated assistant" in spoken(greeting) and "Press 0" in spoken(greeting)
    gather = greeting.find("Gather")
    assert gather.get("input") == "speech dtmf" and gather.get("speechTimeout") == "auto"
    steps = [
        (lambda: call.say("I'd like to get started"), "for you, or for someone"),
        (lambda: call.say("it's for me"), "first name"),
        (lambda: call.say("Jordan"), "18 or older"),
        (lambda: call.say("I'm 34"), "state"),
        (lambda: call.say("Ohio"), "What are you using"),
        (lambda: call.say("alcohol and some xanax"), "Press or say 1 for daily"),
        (lambda: call.press("2"), "withdrawal"),
        (lambda: call.press("1"), "Press or say all numbers that apply"),
        (lambda: call.press("1"), "insurance"),
        (lambda: call.say("aetna"), "best number"),
        (lambda: call.say("yes"), "good time"),
        (lambda: call.say("evenings, voicemail is fine"), "42 C"),
    ]
    for act, expected in steps:
        twiml = act()
        assert expected.lower() in spoken(twiml).lower(), (expected, spoken(twiml))
        assert twiml.find("Gather") is not None
    done = call.say("yes I agree")
    assert "connecting you" in spoken(done)
    assert done.find("Dial").find("Number").text == ADMISSIONS
    lead = lead_with_phone(engine, call.phone)
    assert (lead.status, lead.channel, lead.first_name, lead.state) == (
        "complete", "twilio_voice", "Jordan", "OH")


def test_a_caller_in_crisis_is_offered_988_and_put_through(helpline):
    call = Caller(helpline)
    call.post()
    offer = call.say("I took too many pills and I can't breathe")
    assert "9 1 1" in spoken(offer) and "988" not in spoken(offer)  # said digit by digit
    assert "9 8 8" in spoken(offer)
    assert step_of(offer.find("Gather").get("action")) == "offer_988"
    connected = call.press("1", query="step=offer_988")
    assert connected.find("Dial").text == "988"


def test_hanging_up_mid_prescreen_keeps_the_partial_lead(helpline):
    engine = helpline[2]
    call = Caller(helpline)
    call.post()
    call.say("get started")
    call.say("for myself")
    assert "18 or older" in spoken(call.say("Sam"))
    assert lead_with_phone(engine, call.phone) is None
    call.post(path=STATUS, CallStatus="completed", CallDuration="95")
    lead = lead_with_phone(engine, call.phone)
    assert (lead.status, lead.first_name, lead.for_whom, lead.channel) == (
        "incomplete", "Sam", "self", "twilio_voice")


def test_one_number_on_both_channels_is_two_conversations_and_one_lead(helpline):
    engine = helpline[2]
    phone = new_number()
    call = Caller(helpline, phone)
    call.post()
    call.say("get started")
    call.say("it's for me")
    call.say("Robin")
    call.post(path=STATUS, CallStatus="completed")
    text = texter(helpline, phone)
    text("hi")
    assert any("counselor" in r for r in text("can I talk to a counselor"))
    with Session(engine, future=True) as session:
        leads = session.scalar(select(func.count()).select_from(Lead).where(
            Lead.phone_e164 == phone))
        conversations = session.execute(select(ConversationContact.conversation_id).where(
            ConversationContact.phone_e164 == phone)).scalars().all()
    assert leads == 1
    assert len(set(conversations)) == 2
    lead = lead_with_phone(engine, phone)
    assert lead.first_name == "Robin" and lead.channel == "twilio_sms"


def test_forged_webhooks_are_refused_by_the_real_server(helpline):
    stack, *_ = helpline
    params = sms_params(new_number(), "hi", "SMforged")
    assert signed_post(stack.rasa_url, SMS, params, token="not-the-token").status_code == 403
    assert signed_post(stack.rasa_url, VOICE, {"CallSid": "CA1", "From": "+13125550142"},
                       token="not-the-token").status_code == 403
