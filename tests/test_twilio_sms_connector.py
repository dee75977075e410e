"""The SMS webhook as Twilio and a texter see it, with a scripted assistant behind it.

Everything up to the assistant is real: Sanic serving our blueprint, signatures from the
official SDK, the leads database, and the SDK sending late replies to a local stand-in for
the Twilio API. The assistant is a stub here so each rule can be tested on its own; the
real one answers in tests/test_stack_twilio.py.
"""
from __future__ import annotations

import threading
import uuid

import pytest
from twilio.request_validator import RequestValidator

from bot.leads.database import make_engine
from bot.messaging.store import MessagingStore
from connectors import twilio_common
from scripts.twilio_local import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    signed_post,
    sms_params,
    twiml_messages,
)

PATH = "/webhooks/twilio_sms/webhook"


@pytest.fixture
def sms(twilio_server):
    url, api, assistant, var_dir = twilio_server
    assistant.__init__()
    api.requests.clear()
    # A number of its own for each test, so opt-outs and conversations never carry over.
    phone = f"+1312555{uuid.uuid4().int % 10000:04d}"

    class Harness:
        twilio = api
        bot = assistant
        store = MessagingStore(make_engine(f"sqlite:///{var_dir}/leads.db"))
        number = phone

        def text(self, body, phone=phone, sid=None, **extra):
            sid = sid or f"SM{uuid.uuid4().hex}"
            return signed_post(url, PATH, sms_params(phone, body, sid, **extra))

        def post(self, params, **kwargs):
            return signed_post(url, PATH, params, **kwargs)

    return Harness()


def test_a_text_is_answered_inline_as_twiml(sms):
    answer = sms.text("how much does it cost")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert twiml_messages(answer) == ["echo: how much does it cost"]
    assert sms.twilio.requests == []  # one round trip: nothing through the REST API


def test_forged_missing_or_wrongly_addressed_signatures_get_403_and_nothing_happens(sms):
    sid = f"SM-forged-{uuid.uuid4().hex}"
    params = sms_params(sms.number, "hello", sid)
    forged = sms.post(params, token="someone-elses-token")
    missing = sms.post(params, signature="")
    # Signed for another URL (a replay against a different endpoint).
    elsewhere = sms.post(params, public_base="https://attacker.example")
    # Signed for one body, sent with another.
    tampered = sms.post(params, signature=RequestValidator(AUTH_TOKEN).compute_signature(
        PUBLIC_BASE_URL + PATH, {**params, "Body": "something else"}))
    assert [r.status_code for r in (forged, missing, elsewhere, tampered)] == [403] * 4
    assert sms.bot.heard == []
    # The id was not marked as handled: the genuine delivery is still answered.
    assert twiml_messages(sms.text("hello", sid=sid)) == ["echo: hello"]


def test_a_twilio_retry_of_the_same_message_gets_no_second_reply(sms):
    sid = f"SM-retry-{uuid.uuid4().hex}"
    first = sms.text("is it confidential", sid=sid)
    retry = sms.text("is it confidential", sid=sid)
    assert twiml_messages(first) == ["echo: is it confidential"]
    assert retry.status_code == 200 and twiml_messages(retry) == []
    assert len(sms.bot.heard) == 1


def test_the_assistant_sees_a_pseudonymous_id_not_the_number(sms):
    sms.text("hi")
    sms.text("hi again")
    (first_id, _), (second_id, _) = sms.bot.heard
    assert first_id == second_id and first_id.startswith("twilio_sms-")
    assert sms.number[2:] not in first_id
    assert sms.store.phone_of(first_id) == sms.number


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "QUIT", "stop texting me"])
def test_stop_gets_one_confirmation_then_silence_until_start(sms, word):
    confirmation = twiml_messages(sms.text(word))
    assert len(confirmation) == 1 and "unsubscribed" in confirmation[0]
    assert "START" in confirmation[0]
    assert twiml_messages(sms.text("what are your hours")) == []
    assert sms.bot.heard == []
    welcome = twiml_messages(sms.text("START"))
    assert len(welcome) == 1 and "subscribed again" in welcome[0]
    assert twiml_messages(sms.text("what are your hours")) == ["echo: what are your hours"]


def test_a_crisis_after_stop_is_still_answered(sms):
    sms.text("STOP")
    sms.bot.reply = ""  # as when the assistant is paused for a counselor
    answer = " ".join(twiml_messages(sms.text("I took too many pills and can't breathe")))
    assert "911" in answer and "text 988" in answer


def test_help_names_the_center_the_helpline_and_how_to_opt_out(sms):
    (reply,) = twiml_messages(sms.text("HELP"))
    assert "Lakeview Recovery Center" in reply and "(555) 010-4400" in reply
    assert "Reply STOP to opt out" in reply
    assert sms.bot.heard == []


def test_help_still_gives_911_and_988_when_the_profile_cannot_be_read(sms, unreadable_profile):
    # HELP is answered before any crisis check, so its own 911/988 must go out.
    (reply,) = twiml_messages(sms.text("HELP"))
    assert reply.startswith("Admissions: text 'counselor' to reach a person.")
    assert "call 911" in reply and "text 988" in reply


def test_a_picture_with_no_text_gets_a_kind_answer(sms):
    (reply,) = twiml_messages(sms.text("", NumMedia="1", MediaUrl0="https://api.twilio.com/x.jpg",
                                       MediaContentType0="image/jpeg"))
    assert "only read text" in reply
    assert sms.bot.heard == []


def test_a_long_reply_is_split_into_messages_of_two_segments_at_most(sms):
    sms.bot.reply = "Each session is about three hours long. " * 15 + "💙"
    messages = twiml_messages(sms.text("tell me everything"))
    assert len(messages) > 1
    from bot.messaging.segments import segment_count
    assert all(segment_count(m) <= 2 for m in messages)
    assert " ".join(messages) == sms.bot.reply.strip()


@pytest.mark.parametrize("body", ["", "😀" * 50, "<script>alert(1)</script>",
                                  "'; DROP TABLE leads;--", "x" * 5000, "¿Dónde están?"])
def test_odd_messages_reach_the_assistant_and_get_a_reply(sms, body):
    answer = sms.text(body)
    assert answer.status_code == 200
    assert twiml_messages(answer)  # a reply, never silence or a 500
    assert len(sms.bot.heard[0][1]) <= 1600


def test_a_slow_reply_is_sent_through_the_rest_api_instead(sms):
    sms.bot.delay = 4  # over the 3 s budget set for this test
    answer = sms.text("what is iop")
    assert answer.status_code == 200 and twiml_messages(answer) == []
    for _ in range(100):
        if sms.twilio.requests:
            break
        threading.Event().wait(0.1)
    (request,) = sms.twilio.requests
    assert request["path"].endswith("/Messages.json") and "/Accounts/AC" in request["path"]
    assert request["form"] == {"To": sms.number, "From": "+15550104400",
                               "Body": "echo: what is iop"}


def test_a_crisis_text_does_not_wait_for_a_slow_assistant(sms, responses):
    sms.bot.delay = 4  # over the 3 s budget: the crisis reply goes inline at once
    sms.bot.reply = responses["utter_crisis"][0]["text"]  # what the dialogue says, late
    inline = " ".join(twiml_messages(sms.text("i took all my pills")))
    assert "911" in inline and "988" in inline
    threading.Event().wait(5)  # the assistant's own late reply arrives meanwhile
    late = [r["form"]["Body"] for r in sms.twilio.requests if r["form"].get("To") == sms.number]
    assert not any("988" in body for body in late)  # no second crisis text


def test_an_assistant_failure_still_gets_a_kind_reply(sms):
    sms.bot.crash = True
    (reply,) = twiml_messages(sms.text("hello"))
    assert "something went wrong" in reply and "911" in reply


def test_without_twilio_settings_the_channel_answers_503(sms, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    twilio_common.channel_config.cache_clear()
    try:
        assert sms.text("hello").status_code == 503
    finally:
        monkeypatch.undo()
        twilio_common.channel_config.cache_clear()


def test_a_stop_that_cannot_be_stored_is_retried_not_lost(sms, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from bot.messaging.store import MessagingStore

    real_opt_out = MessagingStore.opt_out

    def database_down(self, phone):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(MessagingStore, "opt_out", database_down)
    sid = f"SM-stop-{uuid.uuid4().hex}"
    failed = sms.text("STOP", sid=sid)
    assert failed.status_code == 503  # Twilio retries a 5xx
    monkeypatch.setattr(MessagingStore, "opt_out", real_opt_out)
    retried = twiml_messages(sms.text("STOP", sid=sid))
    assert len(retried) == 1 and "unsubscribed" in retried[0]
    assert sms.store.is_opted_out(sms.number)
