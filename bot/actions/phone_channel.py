"""The caller's or texter's own number, for conversations on the Twilio channels.

Their conversation ids are pseudonymous (an HMAC of the number), so the number is looked up
in the leads database, where the connector recorded it, rather than read from the id.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging

from rasa_sdk import Tracker

from bot.leads.submission import LeadDetails
from bot.messaging.store import messaging_store_for
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
    except Exception as error:  # the question is then simply asked
        logger.warning("could not look up the conversation's number (%s)", type(error).__name__)
        return None


async def with_callback_number(tracker: Tracker, lead: LeadDetails | None) -> LeadDetails | None:
    """The lead, carrying the number they called or texted from when they gave no other.

    Someone who asks for a person on the phone line must be reachable even if they never
    started the pre-screen: this is their callback request.
    """
    phone = await known_phone(tracker)
    if phone is None:
        return lead
    # The channel saw this number: verified, so it joins their other conversations' lead.
    if lead is None:
        return LeadDetails(status="incomplete", phone_e164=phone, phone_verified=True)
    if lead.phone_e164 is None or lead.phone_e164 == phone:
        return dataclasses.replace(lead, phone_e164=phone, phone_verified=True)
    return lead
