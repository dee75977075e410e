"""The lead in a conversation's slots, as the action server sees it (see bot/prescreen/lead.py)."""
from __future__ import annotations

from rasa_sdk import Tracker

from bot.leads.submission import LeadDetails
from bot.prescreen.lead import lead_from_slots


def partial_lead_from(tracker: Tracker, complete: bool = False,
                      channel_phone: str | None = None) -> LeadDetails | None:
    """The lead as far as the person got; None when they answered nothing (nothing to keep)."""
    return lead_from_slots(tracker.current_slot_values(), complete, channel_phone)
