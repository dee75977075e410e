"""The crisis reply, guaranteed at the channel: no crisis message goes without 911/988.

The dialogue answers a crisis message itself (CrisisGuard, CrisisPolicy). Three cases slip
past it, and every connector passes its messages through `with_crisis_reply` to close them:
- a conversation paused for a counselor gets no reply from Rasa at all;
- NLU reads at most MAX_MESSAGE_CHARS, so crisis words past the cut are never classified;
- the assistant fails or times out on the message.
Whenever the deterministic net matches the whole message and no crisis reply is among what
the assistant said, the channel adds it, in the message's language and in the channel's
variation, and moves the person's handoff to the top of the queue, texting on-call staff.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.handoff import service
from bot.leads.submission import HandoffPriority, HandoffRequest, Submission
from bot.safety.crisis import CrisisDetector, CrisisMatch
from bot.settings import load_settings
from connectors.replies import all_texts_of, channel_reply

logger = logging.getLogger(__name__)

CRISIS_RESPONSE = "utter_crisis"

# `handle(message, whole_text)`: whole_text is the message as received, before it was cut
# for NLU; None when nothing was cut.
MessageHandler = Callable[[UserMessage, "str | None"], Awaitable[None]]


@lru_cache(maxsize=1)
def crisis_detector() -> CrisisDetector:
    return CrisisDetector.from_file(load_settings().crisis_patterns_path)


def crisis_in(text: str | None) -> CrisisMatch | None:
    return crisis_detector().detect(text)


def crisis_reply_sent(messages: list[dict]) -> bool:
    wordings = all_texts_of(CRISIS_RESPONSE)
    return any((m.get("text") or "").strip() in wordings for m in messages)


def with_crisis_reply(on_new_message: Callable[[UserMessage], Awaitable[None]]) -> MessageHandler:
    async def handle(message: UserMessage, whole_text: str | None = None) -> None:
        try:
            await on_new_message(message)
        finally:
            # Also when the assistant raised or was cancelled: the reply must still go out.
            await _add_crisis_reply_if_missing(message, whole_text)

    return handle


async def _add_crisis_reply_if_missing(message: UserMessage, whole_text: str | None) -> None:
    collector = message.output_channel
    if not isinstance(collector, CollectingOutputChannel):
        return
    match = crisis_in(whole_text if whole_text is not None else message.text)
    if match is None or crisis_reply_sent(collector.messages):
        return
    logger.warning("crisis message the dialogue did not answer: category=%s channel=%s",
                   match.category, message.input_channel)
    reply = channel_reply(CRISIS_RESPONSE, collector.name(), getattr(match, "language", "en"))
    await collector.send_text_message(message.sender_id, reply["text"])
    if reply.get("custom"):
        await collector.send_custom_json(message.sender_id, reply["custom"])
    await _raise_handoff_priority(message)


async def _raise_handoff_priority(message: UserMessage) -> None:
    try:
        await service.record(Submission(message.sender_id, message.input_channel or "unknown",
                                        handoff=HandoffRequest("crisis", HandoffPriority.CRISIS)),
                             notify_existing=True)
    except Exception as error:  # the reply has gone out; the queue change must not undo it
        logger.error("could not raise the handoff priority (%s)", type(error).__name__)
