"""The SMS rules a person notices: STOP/START/HELP, message splitting, quiet hours, ids."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.local_secrets import load_or_create_secret
from bot.messaging.keywords import Keyword, keyword_of
from bot.messaging.pseudonym import conversation_id_for
from bot.messaging.quiet_hours import may_text_now
from bot.messaging.segments import segment_count, split_for_sms

UTC = dt.timezone.utc


@pytest.mark.parametrize("text", [
    "STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "cancel", "END", "quit", "REVOKE",
    "OPTOUT", "opt out", "stop texting me", "Please stop texting me", "stop messaging me",
    "don't text me anymore", "no more texts", "unsubscribe me", "remove me from this list",
    "leave me alone", "STOP!!! 😡",
])
def test_opt_out_words_and_plain_requests_opt_out(text):
    assert keyword_of(text) is Keyword.OPT_OUT


@pytest.mark.parametrize("text", ["START", "unstop", "Start"])
def test_start_and_unstop_opt_back_in(text):
    assert keyword_of(text) is Keyword.OPT_IN


@pytest.mark.parametrize("text", [
    "how do I stop drinking", "I can't stop using", "when does the program end",
    "I want to quit heroin", "can I cancel my appointment later", "help me please",
    "I need help", "", "🙏", "stop drinking now please",
])
def test_questions_that_mention_stop_or_help_go_to_the_assistant(text):
    assert keyword_of(text) is None


def test_help_alone_is_the_help_keyword():
    assert keyword_of("HELP") is Keyword.HELP and keyword_of("help?") is Keyword.HELP


def test_a_short_reply_is_one_message_and_a_long_one_splits_after_sentences():
    assert split_for_sms("Hello there.") == ["Hello there."]
    sentence = "This sentence is about forty-six characters. "
    messages = split_for_sms(sentence * 20)
    assert len(messages) > 1
    assert all(segment_count(m) <= 2 for m in messages)
    assert all(m.endswith("characters.") for m in messages)
    assert " ".join(messages) == (sentence * 20).strip()


def test_emoji_makes_segments_shorter_and_is_never_cut_in_half():
    text = "Thank you 🙏 for reaching out. " * 12
    messages = split_for_sms(text)
    assert all(segment_count(m) <= 2 for m in messages)
    assert "".join(messages).count("🙏") == 12
    assert segment_count("a" * 160) == 1 and segment_count("a" * 161) == 2
    assert segment_count("🙏" + "a" * 68) == 1 and segment_count("🙏" + "a" * 69) == 2


def test_one_endless_word_is_still_delivered_whole():
    messages = split_for_sms("x" * 1000)
    assert "".join(messages) == "x" * 1000 and all(segment_count(m) <= 2 for m in messages)


@pytest.mark.parametrize("utc_time,state,allowed", [
    ("2026-11-23T14:00", "IL", True),    # 8 a.m. Chicago
    ("2026-11-23T13:59", "IL", False),   # 7:59 a.m. Chicago
    ("2026-11-24T02:59", "IL", True),    # 8:59 p.m. Chicago
    ("2026-11-24T03:00", "IL", False),   # 9 p.m. Chicago
    ("2026-11-24T03:00", "CA", True),    # 7 p.m. Los Angeles at the same moment
    ("2026-11-23T14:00", "NY", True),
    ("2026-11-24T03:00", None, False),   # state unknown: the center's zone (Chicago)
])
def test_proactive_texts_keep_to_8am_to_9pm_where_the_person_lives(utc_time, state, allowed):
    now = dt.datetime.fromisoformat(utc_time).replace(tzinfo=UTC)
    assert may_text_now(now, state, "America/Chicago") is allowed


def test_conversation_ids_hide_the_number_but_stay_stable_per_channel(tmp_path):
    secret = load_or_create_secret(None, tmp_path / "key").encode()
    assert load_or_create_secret(None, tmp_path / "key").encode() == secret  # survives a restart
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    sms = conversation_id_for("twilio_sms", "+13125550142", secret)
    assert sms == conversation_id_for("twilio_sms", "+13125550142", secret)
    assert "3125550142" not in sms and sms.startswith("twilio_sms-")
    assert sms != conversation_id_for("twilio_voice", "+13125550142", secret)
    assert sms != conversation_id_for("twilio_sms", "+13125550142", b"another secret")
    assert load_or_create_secret("configured", tmp_path / "unused") == "configured"


def test_a_mistyped_number_setting_is_named_in_the_error(monkeypatch):
    from bot.settings import load_settings

    monkeypatch.setenv("SMS_REPLY_BUDGET_SECONDS", "ten")
    with pytest.raises(ValueError, match="SMS_REPLY_BUDGET_SECONDS must be a number"):
        load_settings()
    monkeypatch.setenv("SMS_REPLY_BUDGET_SECONDS", "2.5")
    monkeypatch.setenv("RASA_PORT", "50o5")
    with pytest.raises(ValueError, match="RASA_PORT must be a whole number"):
        load_settings()
    monkeypatch.setenv("RASA_PORT", "5006")
    settings = load_settings()
    assert (settings.sms_reply_budget_seconds, settings.rasa_port) == (2.5, 5006)
