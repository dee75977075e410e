"""Opt-outs, retried deliveries and conversation numbers, on SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from bot.leads.database import make_engine
from bot.messaging.store import MessagingStore


def test_a_retried_delivery_is_recognised_even_after_a_restart(empty_database_url):
    store = MessagingStore(make_engine(empty_database_url))
    assert store.first_delivery("SM0001", "twilio_sms") is True
    assert store.first_delivery("SM0001", "twilio_sms") is False
    restarted = MessagingStore(make_engine(empty_database_url))
    assert restarted.first_delivery("SM0001", "twilio_sms") is False
    assert restarted.first_delivery("SM0002", "twilio_sms") is True


def test_simultaneous_retries_of_one_message_get_exactly_one_first(empty_database_url):
    store = MessagingStore(make_engine(empty_database_url))
    store.ensure_schema()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.first_delivery("SM-race", "twilio_sms"), range(8)))
    assert results.count(True) == 1


def test_old_delivery_ids_can_be_forgotten(empty_database_url):
    store = MessagingStore(make_engine(empty_database_url))
    store.first_delivery("SM-old", "twilio_sms")
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert store.forget_deliveries_before(future) == 1
    assert store.first_delivery("SM-old", "twilio_sms") is True


def test_stop_holds_until_start(empty_database_url):
    store = MessagingStore(make_engine(empty_database_url))
    assert store.is_opted_out("+13125550142") is False
    store.opt_out("+13125550142")
    store.opt_out("+13125550142")  # a second STOP is harmless
    assert MessagingStore(make_engine(empty_database_url)).is_opted_out("+13125550142")
    store.opt_in("+13125550142")
    assert store.is_opted_out("+13125550142") is False


def test_the_number_behind_a_conversation_is_kept_once(empty_database_url):
    store = MessagingStore(make_engine(empty_database_url))
    store.remember_contact("twilio_sms-ab12", "twilio_sms", "+13125550142")
    store.remember_contact("twilio_sms-ab12", "twilio_sms", "+13125550142")
    store.remember_contact("twilio_voice-cd34", "twilio_voice", "+13125550142")
    assert store.phone_of("twilio_sms-ab12") == "+13125550142"
    assert store.phone_of("twilio_voice-cd34") == "+13125550142"
    assert store.phone_of("twilio_sms-unknown") is None
