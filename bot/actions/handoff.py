"""Hands a conversation to an admissions counselor: handoff row, staff text, reply, pause.

Used for "talk to a person", a finished pre-screen and the end of the fallback ladder. The
recording and the staff text are bot/handoff/service.py's, shared with the connectors.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile
from bot.actions.lead_from_tracker import partial_lead_from
from bot.actions.phone_channel import with_callback_number
from bot.handoff import service
from bot.leads.submission import HandoffPriority, HandoffRequest, LeadDetails, Submission

logger = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


async def record_handoff(tracker: Tracker, reason: str, priority: HandoffPriority,
                         lead: LeadDetails | None) -> bool:
    """Records the lead and the handoff; False when the conversation is past the handoff cap
    (no counselor was asked this time), True otherwise (also while it waits in the spool)."""
    submission = Submission(conversation_id=tracker.sender_id, channel=channel_of(tracker),
                            lead=lead, handoff=HandoffRequest(reason, priority))
    outcome = service.outcome_of(submission, await service.record(submission))
    return not (outcome and outcome.handoff_capped)


def say_handoff_capped(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Past the cap no counselor is asked again, so the person is not told one is coming and
    the assistant is not paused: it keeps answering, and points to the helpline number."""
    dispatcher.utter_message(response="utter_handoff_capped", **current_profile().reply_slots())
    return []


async def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                   priority: HandoffPriority, lead: LeadDetails | None = None) -> list[EventType]:
    """Records the handoff, tells the person what happens next, and pauses the assistant."""
    lead = await with_callback_number(tracker, lead)
    if not await record_handoff(tracker, reason, priority, lead):
        return say_handoff_capped(dispatcher)
    profile = current_profile()
    now = utc_now()
    if profile.is_admissions_open(now):
        dispatcher.utter_message(response="utter_handoff_open", **profile.reply_slots())
    else:
        dispatcher.utter_message(response="utter_handoff_closed",
                                 callback=profile.callback_phrase(now),
                                 **profile.reply_slots())
    # Paused: later messages stay in the transcript for the counselor, and the assistant
    # stays quiet until `python -m bot.leads resume` gives the conversation back.
    return [ConversationPaused()]


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        return await hand_off(dispatcher, tracker, "request_human", HandoffPriority.ROUTINE,
                              partial_lead_from(tracker))
