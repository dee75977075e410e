"""The caller's or texter's own number, for conversations on the Twilio channels.

Their conversation ids are pseudonymous (an HMAC of the number), so the number is looked up
in the leads database, where the connector recorded it, rather than read from the id.
"""
from __future__ import annotations

import asyncio
import logging

from rasa_sdk import Tracker

from bot.leads.submission import LeadDetails
from bot.messaging.store import messaging_store_for
from bot.prescreen.lead import with_channel_phone
from bot.settings import load_settings

logger = logging.getLogger(__name__)

PHONE_CHANNELS = ("twilio_sms", "twilio_voice")


async def known_phone(tracker: Tracker) -> str | None:
    """The number the person is texting or calling from; None on the website."""
    if tracker.get_latest_input_channel() not in PHONE_CHANNELS:
        return None
    store = messaging_store_for(load_settings().database_url)
    try:
        return await asyncio.to_thread(store.phone_of, tracker.sender_id)
    except Exception as error:  # noqa: BLE001 (any failure: the question is then simply asked)
        logger.warning("could not look up the conversation's number (%s)", type(error).__name__)
        return None


async def with_callback_number(tracker: Tracker, lead: LeadDetails | None) -> LeadDetails | None:
    """The lead, carrying the number they called or texted from when they gave no other
    (and marked verified when it is that number); see `with_channel_phone`."""
    return with_channel_phone(lead, await known_phone(tracker))
