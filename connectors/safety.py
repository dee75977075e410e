"""The crisis reply, guaranteed at the channel: no crisis message goes without 911/988.

The dialogue answers a crisis message itself (CrisisGuard, CrisisPolicy). Some cases slip
past it, and every connector passes its messages through `with_crisis_reply` to close them:
- a conversation paused for a counselor gets no reply from Rasa at all, even to a message
  its classifier read as a crisis;
- NLU reads at most MAX_MESSAGE_CHARS, so crisis words past the cut are never classified;
- the assistant fails, or hangs (a stuck action server: Rasa waits 300 s), on the message.
Whenever the deterministic net matches the whole message (or, paused, the classifier heard a
crisis) and no crisis reply is among what the assistant said, the channel adds it, in the
message's language and the channel's variation, and moves the person's handoff to the top of
the queue, texting on-call staff.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.background import BackgroundTasks
from bot.handoff import service
from bot.leads.submission import HandoffPriority, HandoffRequest, Submission
from bot.safety.crisis import CRISIS_INTENT, CrisisDetector, CrisisMatch
from bot.settings import load_settings
from connectors.replies import all_texts_of, channel_reply

logger = logging.getLogger(__name__)

CRISIS_RESPONSE = "utter_crisis"
# How long a channel waits for the dialogue before answering without it. Twilio gives up on a
# webhook after 15 s, and Rasa waits up to 300 s on a hung action server: past this budget a
# crisis message gets its reply from the channel, anything else a kind error.
DIALOGUE_BUDGET_S = 10.0
# A crisis from someone whose handoff is waiting moves it up and texts staff; repeated crisis
# messages from one conversation text staff at most once in this many seconds.
CRISIS_REALERT_INTERVAL_S = 600
# A crisis reply waits at most this long for the handoff to move up (the database, or a lead
# spool on a network volume, may hang); past it the handoff goes on behind the reply.
HANDOFF_RAISE_WAIT_S = 2.0
_raising = BackgroundTasks()
# Reading a message over this many characters happens off the event loop, so one long
# message does not hold up everyone else's replies.
LONG_MESSAGE_CHARS = 2000
# On threads of its own: asyncio's shared pool also runs database writes (a crisis handoff
# among them), and while the database hangs those fill it, so a long message's crisis check
# would wait a minute or more behind them.
_crisis_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="crisis-net")

# `handle(message, whole_text, tracker_store)`: whole_text is the message as received, before
# it was cut for NLU (None when nothing was cut); tracker_store, Rasa's, lets the channel ask
# what the classifier made of a message the paused dialogue did not answer.
MessageHandler = Callable[..., Awaitable[None]]


def tracker_store_of(request: Any) -> Any:
    """Rasa's tracker store, where the server has loaded its agent (not in connector tests)."""
    return getattr(getattr(request.app.ctx, "agent", None), "tracker_store", None)


class DialogueTimeout(TimeoutError):
    """The dialogue did not answer within DIALOGUE_BUDGET_S (it goes on in the background)."""


@lru_cache(maxsize=1)
def crisis_detector() -> CrisisDetector:
    return CrisisDetector.from_file(load_settings().crisis_patterns_path)


def crisis_in(text: str | None) -> CrisisMatch | None:
    """The crisis net's verdict. If the net itself fails on a message, that message is treated
    as a crisis: a kind 911/988 reply to someone who was fine costs little."""
    try:
        return crisis_detector().detect(text)
    except Exception as error:
        logger.error("crisis net failed on a message (%s); answering it as a crisis",
                     type(error).__name__)
        return CrisisMatch("unreadable", "en")


async def crisis_in_message(text: str | None) -> CrisisMatch | None:
    if text and len(text) > LONG_MESSAGE_CHARS:
        return await asyncio.get_running_loop().run_in_executor(_crisis_readers, crisis_in, text)
    return crisis_in(text)


def crisis_reply_sent(messages: list[dict]) -> bool:
    wordings = all_texts_of(CRISIS_RESPONSE)
    return any((m.get("text") or "").strip() in wordings for m in messages)


# Turns that outlived their budget, kept referenced until they end.
_late_turns: set[asyncio.Future] = set()


def with_crisis_reply(on_new_message: Callable[[UserMessage], Awaitable[None]],
                      budget_s: float | None = DIALOGUE_BUDGET_S,
                      acknowledge_waiting: bool = False) -> MessageHandler:
    """`acknowledge_waiting`: a message the dialogue leaves unanswered because the conversation
    waits for a counselor gets `utter_waiting_for_counselor` rather than silence (the chat and
    texting channels; a call has its own way of waiting)."""
    async def handle(message: UserMessage, whole_text: str | None = None,
                     tracker_store: Any = None) -> None:
        turn = asyncio.ensure_future(on_new_message(message))
        try:
            await asyncio.wait_for(asyncio.shield(turn), budget_s)
        except asyncio.TimeoutError:
            logger.error("the dialogue did not answer within %.0f s", budget_s)
            _late_turns.add(turn)
            turn.add_done_callback(_finish_late_turn)
            raise DialogueTimeout() from None
        finally:
            # Also when the dialogue raised, timed out or was cancelled: the reply goes out.
            # Only a turn that ended normally can be silent for want of a counselor; one that
            # raised or timed out gets the channel's own error reply.
            ended_normally = (turn.done() and not turn.cancelled()
                              and turn.exception() is None)
            await _answer_what_the_dialogue_did_not(message, whole_text, tracker_store,
                                                    acknowledge_waiting, ended_normally)

    return handle


def _finish_late_turn(turn: asyncio.Future) -> None:
    _late_turns.discard(turn)
    if not turn.cancelled() and turn.exception() is not None:
        logger.error("a late dialogue turn failed (%s)", type(turn.exception()).__name__)


async def _answer_what_the_dialogue_did_not(message: UserMessage, whole_text: str | None,
                                            tracker_store: Any, acknowledge_waiting: bool,
                                            ended_normally: bool = True) -> None:
    collector = message.output_channel
    if not isinstance(collector, CollectingOutputChannel) or crisis_reply_sent(
            collector.messages):
        return
    match = await crisis_in_message(whole_text if whole_text is not None else message.text)
    # Silence from the dialogue: paused for a counselor, it still classified and stored the
    # message but answered nothing. The stored conversation, read once, says which.
    stored = None
    if match is None and not collector.messages and tracker_store is not None:
        stored = await _stored_conversation(tracker_store, message.sender_id)
        match = _classifier_heard_a_crisis(stored)
    if match is not None:
        logger.warning("crisis message the dialogue did not answer: category=%s channel=%s",
                       match.category, message.input_channel)
        await send_crisis_reply(collector, message.sender_id, match)
        await raise_handoff_priority(message.sender_id, message.input_channel)
    elif stored is not None and ended_normally and acknowledge_waiting:
        await _answer_a_silent_turn(collector, message, stored)


async def _answer_a_silent_turn(collector: CollectingOutputChannel, message: UserMessage,
                                stored: Any) -> None:
    """Chat and texting (a call has its own way, in twilio_voice): silence from a turn that
    ended normally means the conversation waits for a counselor, or an action failed."""
    place = await service.place_in_queue(message.sender_id)
    # A stored conversation that cannot say counts as paused: no error is invented.
    paused = getattr(stored, "is_paused", lambda: True)()
    if not paused and place is None:
        # Nobody is waiting for a counselor: an action failed and Rasa carried on without its
        # events. Silence would leave the person stranded; they are asked to try again, and
        # the failed action changed nothing, so their answer is taken again as it was.
        logger.error("the dialogue answered nothing on an active conversation: channel=%s",
                     message.input_channel)
        await collector.send_text_message(
            message.sender_id, channel_reply("utter_channel_error", collector.name())["text"])
    elif place is None or place.position is not None:
        # Waiting (a handoff recorded even if the pause itself failed) and not yet taken by a
        # counselor, who would otherwise be talked over.
        await collector.send_text_message(
            message.sender_id,
            channel_reply("utter_waiting_for_counselor", collector.name())["text"])


async def send_crisis_reply(collector: CollectingOutputChannel, recipient: str,
                            match: CrisisMatch) -> None:
    reply = channel_reply(CRISIS_RESPONSE, collector.name(), getattr(match, "language", "en"))
    await collector.send_text_message(recipient, reply["text"])
    if reply.get("custom"):
        await collector.send_custom_json(recipient, reply["custom"])


async def _stored_conversation(tracker_store: Any, conversation_id: str) -> Any:
    try:
        return await tracker_store.retrieve(conversation_id)
    except Exception as error:
        logger.error("could not read the conversation (%s)", type(error).__name__)
        return None


def _classifier_heard_a_crisis(tracker: Any) -> CrisisMatch | None:
    """The latest message as the classifier read it: a crisis only the classifier recognised
    ("I have the pills in my hand") would otherwise meet a paused conversation's silence."""
    if tracker is None or tracker.latest_message is None:
        return None
    if (tracker.latest_message.intent or {}).get("name") != CRISIS_INTENT:
        return None
    return CrisisMatch("classifier", tracker.get_slot("language") or "en")


_recent_alerts: OrderedDict[str, float] = OrderedDict()


async def raise_handoff_priority(conversation_id: str, channel: str | None) -> None:
    """Moves the conversation's handoff (a new one if none is open) to the top of the queue,
    texting on-call staff unless they were texted about this conversation a moment ago."""
    now = time.monotonic()
    last = _recent_alerts.get(conversation_id)
    alert = last is None or now - last > CRISIS_REALERT_INTERVAL_S
    if alert:
        _recent_alerts[conversation_id] = now
        _recent_alerts.move_to_end(conversation_id)
        while len(_recent_alerts) > 10_000:
            _recent_alerts.popitem(last=False)
    # Held until done, and never cancelled: a slow handoff still lands and texts staff.
    raising = _raising.start(service.record(
        Submission(conversation_id, channel or "unknown",
                   handoff=HandoffRequest("crisis", HandoffPriority.CRISIS)),
        notify_existing=alert), when_done=_handoff_raised)
    await asyncio.wait({raising}, timeout=HANDOFF_RAISE_WAIT_S)
    if not raising.done():
        logger.warning("handoff priority still being raised after %.0f s; the crisis reply "
                       "goes first", HANDOFF_RAISE_WAIT_S)


async def handoff_raises_settled() -> None:
    """Waits for every handoff still moving up (a clean shutdown)."""
    await _raising.settled()


def _handoff_raised(raising: asyncio.Future) -> None:
    if not raising.cancelled() and raising.exception() is not None:
        # The reply has gone out or is going; the queue change must not undo it.
        logger.error("could not raise the handoff priority (%s)",
                     type(raising.exception()).__name__)
