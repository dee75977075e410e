"""Which funnel step a Rasa event marks, reduced to a record that holds no message text.

A record is all the event stream ever carries:
    {"conversation": <keyed digest of the conversation id>, "step": "prescreen_started",
     "channel": "website" or None, "at": <event timestamp>}
No text, no slot values other than how a pre-screen ended (one of a fixed set), no
conversation id: the digest is keyed, so a phone-number conversation id cannot be recovered
by hashing every number. Every other event is dropped before it leaves the Rasa process.

The digest also takes the event's day (UTC), so a step is counted once per conversation per
day: someone who writes again next week is counted again, as a new visit would be, and the
records of their two visits cannot be linked to each other. (A conversation running past
midnight counts on both days; the console's figures are per day and per week, so that is
the same visit seen from each day.)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from typing import Any

from bot.prescreen.questions import COMPLETED

# The funnel, in the order a conversation moves through it (the metrics page's order).
CONVERSATION = "conversation"
QUESTION_ANSWERED = "question_answered"
PRESCREEN_STARTED = "prescreen_started"
PRESCREEN_COMPLETED = "prescreen_completed"
HANDOFF = "handoff"
CRISIS = "crisis"
FUNNEL_ORDER = (CONVERSATION, QUESTION_ANSWERED, PRESCREEN_STARTED, PRESCREEN_COMPLETED,
                HANDOFF, CRISIS)

# Actions whose running marks a step (bot/domain: the FAQ answer, the handoff, the crisis
# reply the rules send; the channels' own crisis replies never reach Rasa's tracker).
_ACTION_STEPS = {
    "action_answer_question": QUESTION_ANSWERED,
    "action_handoff": HANDOFF,
    "utter_crisis": CRISIS,
}
_PRESCREEN_FORM = "prescreen_form"
_OUTCOME_SLOT = "ps_outcome"
# Channel names as Rasa's input channels give them; anything else is recorded as unknown
# rather than copied, so the stream never carries a value a client chose.
KNOWN_CHANNELS = frozenset({"website", "rest", "twilio_sms", "twilio_voice"})
SECONDS_A_DAY = 86_400


def conversation_key(secret: bytes, conversation_id: str, day: dt.date) -> str:
    message = f"funnel:{day.isoformat()}:{conversation_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def event_day(timestamp: Any) -> dt.date:
    """The UTC day of an event's timestamp, or today's if it has none worth trusting."""
    seconds = timestamp if _plausible_time(timestamp) else time.time()
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).date()


def step_of(event: dict[str, Any]) -> str | None:
    kind = event.get("event")
    if kind == "user":
        return CONVERSATION
    if kind == "action":
        name = event.get("name")
        return _ACTION_STEPS.get(name) if isinstance(name, str) else None
    if kind == "active_loop" and event.get("name") == _PRESCREEN_FORM:
        return PRESCREEN_STARTED
    if kind == "slot" and event.get("name") == _OUTCOME_SLOT and event.get("value") == COMPLETED:
        return PRESCREEN_COMPLETED
    return None


def funnel_record(event: dict[str, Any], secret: bytes) -> dict[str, Any] | None:
    """The record to publish for one of Rasa's streamed events, or None to publish nothing."""
    step = step_of(event)
    sender = event.get("sender_id")
    if step is None or not isinstance(sender, str) or not sender:
        return None
    channel = event.get("input_channel") if step == CONVERSATION else None
    timestamp = event.get("timestamp")
    return {
        "conversation": conversation_key(secret, sender, event_day(timestamp)),
        "step": step,
        "channel": channel if isinstance(channel, str) and channel in KNOWN_CHANNELS else None,
        # The day only (the console counts by the day): an exact time would match the
        # event's timestamp in the tracker store, beside the conversation id, and undo the
        # keyed digest; even an hour, with the channel, can single out a lead at a small
        # center.
        "at": (float(int(timestamp) // SECONDS_A_DAY * SECONDS_A_DAY)
               if _plausible_time(timestamp) else None),
    }


def _plausible_time(value: Any) -> bool:
    # Not a bool (an int to Python), not NaN or infinite, and a date datetime can hold.
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value < 32503680000)


_RECORD_FIELDS = frozenset({"conversation", "step", "channel", "at"})


def valid_record(record: Any) -> bool:
    """What the consumer accepts from the queue: exactly the shape funnel_record makes."""
    return (isinstance(record, dict)
            and set(record) <= _RECORD_FIELDS
            and isinstance(record.get("conversation"), str)
            and len(record["conversation"]) == 64
            and record.get("step") in FUNNEL_ORDER
            and all(32 < ord(c) < 127 for c in record["conversation"])
            and (record.get("channel") is None
                 or (isinstance(record["channel"], str) and record["channel"] in KNOWN_CHANNELS))
            and (record.get("at") is None or _plausible_time(record["at"])))
