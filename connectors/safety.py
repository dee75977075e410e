"""The crisis reply for a conversation the assistant has paused for a counselor.

A paused conversation gets no reply from Rasa at all, so a message about suicide or an
overdose sent while waiting for a person would meet silence. Every connector passes its
messages through `answer_crisis_when_silent`, which sends the 911/988 reply whenever the
assistant said nothing and the deterministic safety net matches, and moves the waiting
handoff to the top of the queue, texting on-call staff again.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache

import yaml
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.handoff import service
from bot.leads.submission import HandoffPriority, HandoffRequest, Submission
from bot.safety.crisis import CrisisDetector
from bot.settings import BOT_DIR, load_settings

logger = logging.getLogger(__name__)

CRISIS_RESPONSE = "utter_crisis"


@lru_cache(maxsize=1)
def crisis_detector() -> CrisisDetector:
    return CrisisDetector.from_file(load_settings().crisis_patterns_path)


@lru_cache(maxsize=1)
def crisis_reply_text() -> str:
    """The same words the assistant uses everywhere else (bot/domain/crisis.yml)."""
    domain = yaml.safe_load((BOT_DIR / "domain" / "crisis.yml").read_text(encoding="utf-8"))
    return domain["responses"][CRISIS_RESPONSE][0]["text"]


def answer_crisis_when_silent(
    on_new_message: Callable[[UserMessage], Awaitable[None]],
) -> Callable[[UserMessage], Awaitable[None]]:
    async def handle(message: UserMessage) -> None:
        await on_new_message(message)
        collector = message.output_channel
        if not isinstance(collector, CollectingOutputChannel) or collector.messages:
            return
        match = crisis_detector().detect(message.text)
        if match is None:
            return
        logger.warning("crisis message in a paused conversation: category=%s", match.category)
        await collector.send_text_message(message.sender_id, crisis_reply_text())
        await _raise_handoff_priority(message)

    return handle


async def _raise_handoff_priority(message: UserMessage) -> None:
    try:
        await service.record(Submission(message.sender_id, message.input_channel or "unknown",
                                        handoff=HandoffRequest("crisis", HandoffPriority.CRISIS)),
                             notify_existing=True)
    except Exception:  # the reply has gone out; the queue change must not undo it
        logger.exception("could not raise the handoff priority")
