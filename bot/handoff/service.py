"""Records what a conversation produced (a lead, a handoff) and tells on-call staff.

The one path shared by the action server (bot/actions), the Rasa server (connectors) and the
staff commands. It imports nothing from Rasa, so a connector that records a callback time or
raises a handoff to crisis does not load the actions package (spaCy, TensorFlow), and every
process writes and drains the spool the same way (bot/leads/recording.py).
"""
from __future__ import annotations

import asyncio
import logging

from bot.background import BackgroundTasks
from bot.handoff.notify import notify_oncall
from bot.leads.recording import LeadRecorder, recorder_from_settings
from bot.leads.store import PlaceInQueue
from bot.leads.submission import Applied, HandoffPriority, Submission
from bot.messaging.twilio_api import outbound_from_settings
from bot.settings import load_settings

logger = logging.getLogger(__name__)

# Staff texts run after the person's reply, held until they end.
_notifications = BackgroundTasks()


def current_recorder() -> LeadRecorder:
    return recorder_from_settings(load_settings())


async def record(submission: Submission, notify_existing: bool = False) -> list[Applied]:
    """Writes (or spools) the submission off the event loop, then texts staff in the background.

    Returns what was written: spooled submissions that went in with it first, this one last
    (missing when the database was down and it waits in the spool). Staff are texted about
    every new handoff among them. `notify_existing` texts them about this submission's
    already-waiting handoff too: a crisis message from someone waiting for a counselor must
    reach a person, not only move up the queue.
    """
    applied = await asyncio.to_thread(current_recorder().record, submission)
    _text_staff_about(applied, submission.submission_id if notify_existing else None)
    logger.info("submission recorded: written=%d spooled=%s", len(applied),
                not any(r.submission_id == submission.submission_id for r in applied))
    return applied


async def land_spooled() -> list[Applied]:
    """Writes what waits in this process's spool and its peers' once the database answers
    (the action server's timer), texting staff about each new handoff among them: a crisis
    spooled while the database was down must still reach a person."""
    applied = await asyncio.to_thread(current_recorder().retry_spooled)
    _text_staff_about(applied)
    return applied


async def flush_spooled() -> list[Applied]:
    """The `flush-spool` command: like `land_spooled`, waiting for another drainer, and for
    the staff texts to be sent before the command exits."""
    applied = await asyncio.to_thread(current_recorder().flush)
    _text_staff_about(applied)
    await notifications_settled()
    return applied


def _text_staff_about(applied: list[Applied], also_existing_of: str | None = None) -> None:
    """Texts staff about every new handoff written, and about the already-waiting handoff of
    the submission `also_existing_of`."""
    for result in applied:
        existing_too = result.submission_id == also_existing_of
        if result.handoff_id and (result.handoff_is_new or existing_too):
            # (Not `priority or ROUTINE`: CRISIS is 0, and falsy.)
            priority = result.handoff_priority
            notify_staff_in_background(
                result.handoff_id, HandoffPriority.ROUTINE if priority is None else priority)
        if result.handoff_capped:
            logger.warning("handoff cap reached for a conversation: no new handoff, no staff text")


async def place_in_queue(conversation_id: str) -> PlaceInQueue | None:
    """Where the conversation's open handoff stands, read off the event loop; None also when
    the database cannot say (the chat then simply shows no queue position)."""
    def read() -> PlaceInQueue | None:
        recorder = current_recorder()
        recorder.ensure_schema()
        return recorder.store.place_in_queue(conversation_id)

    try:
        return await asyncio.to_thread(read)
    except Exception as error:
        logger.warning("could not read a place in the queue (%s)", type(error).__name__)
        return None


def outcome_of(submission: Submission, applied: list[Applied]) -> Applied | None:
    """What writing this submission did; None while it waits in the spool."""
    return next((a for a in applied if a.submission_id == submission.submission_id), None)


def notify_staff_in_background(handoff_id: str, priority: HandoffPriority) -> None:
    """The person's reply never waits for Twilio (retries can take seconds)."""
    _notifications.start(_notify_staff(handoff_id, priority))


async def notifications_settled() -> None:
    """Waits for every staff text started so far (tests, and a clean shutdown)."""
    await _notifications.settled()


async def _notify_staff(handoff_id: str, priority: HandoffPriority) -> None:
    settings = load_settings()
    try:
        outcome = await asyncio.to_thread(notify_oncall, priority, settings.oncall_staff_numbers,
                                          outbound_from_settings(settings))
        await asyncio.to_thread(current_recorder().store.record_notification, handoff_id,
                                outcome.attempts, outcome.error)
        if not settings.oncall_staff_numbers:
            # Alerts are off (no on-call numbers): not a failure, the handoff waits in the queue.
            logger.info("staff notification: handoff=%s not sent, staff alerts are off",
                        handoff_id)
        else:
            logger.info("staff notification: handoff=%s ok=%s attempts=%d", handoff_id,
                        outcome.error is None, outcome.attempts)
    except Exception:  # the person's conversation must never see this fail
        logger.exception("staff notification failed: handoff=%s", handoff_id)
