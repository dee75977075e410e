"""Hands a conversation to an admissions counselor: handoff row, staff text, reply, pause.

Used for "talk to a person", a finished pre-screen and the end of the fallback ladder.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile
from bot.actions.lead_from_tracker import partial_lead_from
from bot.actions.phone_channel import with_callback_number
from bot.handoff.notify import notify_oncall
from bot.leads.recording import LeadRecorder, recorder_from_settings
from bot.leads.submission import Applied, HandoffRequest, LeadDetails, Submission
from bot.messaging.twilio_api import outbound_from_settings
from bot.prescreen.care_route import PRIORITY_FOR_ROUTE
from bot.settings import load_settings

logger = logging.getLogger(__name__)

CRISIS_PRIORITY = 0
ROUTINE_PRIORITY = PRIORITY_FOR_ROUTE["iop_candidate"]
# Background staff notifications, kept referenced so they are not garbage-collected mid-retry.
_notifications: set[asyncio.Task] = set()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def current_recorder() -> LeadRecorder:
    return recorder_from_settings(load_settings())


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


async def record_submission(submission: Submission, notify_existing: bool = False) -> list[Applied]:
    """Writes (or spools) off the event loop, then texts staff about any new handoff.

    `notify_existing` texts staff about an already-waiting handoff too: a crisis message from
    someone waiting for a counselor must reach a person, not only move up the queue.
    """
    applied = await asyncio.to_thread(current_recorder().record, submission)
    for result in applied:
        if result.handoff_id and (result.handoff_is_new or notify_existing):
            priority = submission.handoff.priority if submission.handoff else ROUTINE_PRIORITY
            notify_staff_in_background(result.handoff_id, priority)
    logger.info("submission recorded: written=%d spooled=%s", len(applied), not applied)
    return applied


def notify_staff_in_background(handoff_id: str, priority: int) -> None:
    """The person's reply never waits for Twilio (retries can take seconds)."""
    task = asyncio.create_task(_notify_staff(handoff_id, priority))
    _notifications.add(task)
    task.add_done_callback(_notifications.discard)


async def _notify_staff(handoff_id: str, priority: int) -> None:
    settings = load_settings()
    try:
        outcome = await asyncio.to_thread(notify_oncall, priority, settings.oncall_staff_numbers,
                                          outbound_from_settings(settings))
        await asyncio.to_thread(current_recorder().store.record_notification, handoff_id,
                                outcome.attempts, outcome.error)
        logger.info("staff notification: handoff=%s ok=%s attempts=%d", handoff_id,
                    outcome.error is None, outcome.attempts)
    except Exception:  # the person's conversation must never see this fail
        logger.exception("staff notification failed: handoff=%s", handoff_id)



async def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, priority: int,
                   lead: LeadDetails | None = None) -> list[EventType]:
    """Records the handoff, tells the person what happens next, and pauses the assistant."""
    lead = await with_callback_number(tracker, lead)
    await record_submission(Submission(
        conversation_id=tracker.sender_id, channel=channel_of(tracker), lead=lead,
        handoff=HandoffRequest(reason, priority)))
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
        return await hand_off(dispatcher, tracker, "request_human", ROUTINE_PRIORITY,
                              partial_lead_from(tracker))
