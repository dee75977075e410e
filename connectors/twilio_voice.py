"""The helpline number's voice channel: POST /webhooks/twilio_voice/webhook and /status.

A call is a chain of webhooks. Each answer is TwiML: the assistant's reply rendered for
speech inside a <Gather> that listens for speech or keypad digits, followed by a <Redirect>
taken only when the caller said nothing. Where the call is in that chain travels in the
action URL's `step` query parameter, which Twilio signs with the rest of the request, so no
call state lives in this process and any Rasa instance can take the next turn.

Replaces Rasa's built-in `twilio_voice` channel, which checks no signature, waits 5 s of
silence after every answer and cannot transfer a call to a person.
"""
from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from bot.facility import readable_profile
from bot.handoff import service
from bot.leads.recording import recorder_from_settings
from bot.leads.submission import LeadDetails, Submission
from bot.log_redaction import remember_sensitive
from bot.messaging.speech import speakable
from bot.messaging.voice_hints import speech_hints
from bot.prescreen.lead import lead_from_slots, with_channel_phone
from bot.settings import load_settings
from connectors.limits import clean_text, text_for_nlu
from connectors.replies import channel_reply
from connectors.safety import (
    CRISIS_RESPONSE,
    DialogueTimeout,
    crisis_in,
    tracker_store_of,
    with_crisis_reply,
)
from connectors.twilio_common import (
    NamedCollectingOutputChannel,
    TwilioChannelConfig,
    add_health_route,
    caller_of,
    conversation_for,
    form_value,
    genuine_request_config,
    is_first_delivery,
)

logger = logging.getLogger(__name__)

CHANNEL = "twilio_voice"
WEBHOOK_PATH = "/webhooks/twilio_voice/webhook"
# Rasa's built-in channel waits 5 s after the caller stops; "auto" ends the turn at the
# first natural pause. (Twilio allows "auto" only when no speechModel is named.)
SPEECH_TIMEOUT = "auto"
# Seconds to wait for the caller to start speaking or press a key.
LISTEN_TIMEOUT = 6
VOICE = {"voice": "Polly.Joanna", "language": "en-US"}
# Custom payloads the voice variants of responses carry (bot/domain/*.yml, channel twilio_voice).
TRANSFER, HANG_UP, OFFER_988 = "transfer", "hang_up", "offer_988"
# Our own command to open a call with the greeting; a caller's words never start with "/".
SESSION_START = "/session_start"
TERMINAL_CALL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")
_YES_TO_988 = re.compile(r"\b(yes|yeah|yep|please|connect|ok|okay|sure|988)\b", re.IGNORECASE)


# The turn being answered. Every URL the answer gives Twilio carries the next turn's number,
# so a retried webhook (same call, same turn) is told apart from a caller who says the same
# thing twice ("1", then "1" at the next menu). Set per request in `_turn`.
_current_turn: contextvars.ContextVar[int] = contextvars.ContextVar("voice_turn", default=0)


def _url(config: TwilioChannelConfig, **query: str) -> str:
    base = config.public_base_url or ""
    query = {**query, "t": str(_current_turn.get() + 1)}
    return f"{base}{WEBHOOK_PATH}?{urlencode(query)}"


def _xml(reply: VoiceResponse) -> HTTPResponse:
    return response.text(str(reply), content_type="application/xml")


def _listen(reply: VoiceResponse, config: TwilioChannelConfig, spoken: list[str],
            step: str = "answer", silence: int = 1) -> VoiceResponse:
    """Says `spoken` while listening (the caller may talk over it), then handles silence."""
    gather = Gather(input="speech dtmf", action=_url(config, step=step), method="POST",
                    speech_timeout=SPEECH_TIMEOUT, timeout=LISTEN_TIMEOUT,
                    hints=speech_hints(), action_on_empty_result=False, language="en-US")
    for text in spoken:
        if text:
            gather.say(text, **VOICE)
    reply.append(gather)
    reply.redirect(_url(config, step="silence", n=str(silence)), method="POST")
    return reply


def _prompts(config: TwilioChannelConfig) -> dict[str, str]:
    # Read before any crisis check of the turn: an unreadable profile must not keep 911/988
    # from a caller, so the center's name is left out instead.
    profile = readable_profile(config.settings.facility_profile_path)
    center = profile.name if profile else "us"
    return {
        "reprompt": "Sorry, I didn't hear anything. You can ask about our outpatient program, "
                    "or press 0 or say 'counselor' to reach a person.",
        "offer": "Would you like to talk with an admissions counselor? Press 0 or say "
                 "'counselor'. Otherwise I'll say goodbye.",
        "goodbye": f"Thank you for calling {center}. You can call back any time. "
                   f"In an emergency, hang up and dial 9 1 1. Goodbye.",
        "not_understood": "Sorry, I couldn't make that out. Could you say it again?",
        "no_answer": "I'm sorry, no one could pick up just now. A counselor will call you "
                     "back as soon as possible. In an emergency, hang up and dial 9 1 1.",
        "error": "Sorry, something went wrong on my side. Please call back, or in an "
                 "emergency hang up and dial 9 1 1.",
        "connecting_988": "Connecting you to the 9 8 8 Suicide and Crisis Lifeline now.",
        "callback_time": "What's the best time for a counselor to call you back? For example, "
                         "'tomorrow morning' or 'after 5'.",
        "callback_noted": "Thank you, I've passed that on to the counselor.",
        "goodbye_after_handoff": "Take care. Goodbye for now.",
    }


def _say_then_hang_up(*texts: str) -> VoiceResponse:
    reply = VoiceResponse()
    for text in filter(None, texts):
        reply.say(text, **VOICE)
    reply.hangup()
    return reply


def _voice_actions(messages: list[dict[str, Any]]) -> set[str]:
    """What the responses ask the call to do (the `voice` key of their custom payloads)."""
    return {(m.get("custom") or {}).get("voice") for m in messages if m.get("custom")} - {None}


def _replies_with_actions(messages: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(spoken text, voice action) pairs: a response's custom payload follows its text."""
    pairs: list[tuple[str, str | None]] = []
    for message in messages:
        action = (message.get("custom") or {}).get("voice")
        if action and pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], action)
        elif action:
            pairs.append(("", action))
        if message.get("text"):
            pairs.append((speakable(message["text"]), None))
    return pairs


def render_turn(messages: list[dict[str, Any]], config: TwilioChannelConfig,
                callback_time_known: bool = True) -> VoiceResponse:
    """The assistant's replies as one TwiML answer: speak, then listen, transfer or hang up.

    A call that ends in a callback asks when to call first, unless the person already said.
    """
    pairs = _replies_with_actions(messages)
    actions = _voice_actions(messages)
    reply = VoiceResponse()
    if OFFER_988 in actions:
        # Someone at risk: the 988 offer comes first. A handoff made in the same turn still
        # stands (a counselor will call back as a priority), but it is not announced over it.
        spoken = [text for text, action in pairs if action in (None, OFFER_988)]
        return _listen(reply, config, spoken, step="offer_988")
    spoken = [text for text, _ in pairs]
    if TRANSFER in actions and config.settings.admissions_phone:
        for text in filter(None, spoken):
            reply.say(text, **VOICE)
        _dial_admissions(reply, config)
        return reply
    if TRANSFER in actions or HANG_UP in actions:
        # No one to ring (ADMISSIONS_PHONE unset) or admissions closed: the reply says when a
        # counselor will call back, and the handoff with the caller's number is the request.
        prompts = _prompts(config)
        if not callback_time_known:
            return _ask_callback_time(reply, config, [*spoken, prompts["callback_time"]])
        return _say_then_hang_up(*spoken, prompts["goodbye_after_handoff"])
    if not any(spoken):
        return _listen(reply, config, [_prompts(config)["not_understood"]])
    return _listen(reply, config, spoken)


def _ask_callback_time(reply: VoiceResponse, config: TwilioChannelConfig,
                       spoken: list[str]) -> VoiceResponse:
    gather = Gather(input="speech", action=_url(config, step="callback_time"), method="POST",
                    speech_timeout=SPEECH_TIMEOUT, timeout=LISTEN_TIMEOUT,
                    action_on_empty_result=False, language="en-US")
    for text in filter(None, spoken):
        gather.say(text, **VOICE)
    reply.append(gather)
    reply.say(_prompts(config)["goodbye_after_handoff"], **VOICE)
    reply.hangup()
    return reply


def _dial_admissions(reply: VoiceResponse, config: TwilioChannelConfig) -> None:
    dial = reply.dial(action=_url(config, step="after_dial"), method="POST", timeout=30,
                      caller_id=config.settings.twilio_number)
    dial.number(config.settings.admissions_phone)


class TwilioVoiceInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        handle = with_crisis_reply(on_new_message)
        voice = Blueprint("twilio_voice_webhook", __name__)
        add_health_route(voice)

        @voice.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            config = genuine_request_config(request, CHANNEL)
            if isinstance(config, HTTPResponse):
                return config
            try:
                return _xml(await self._turn(request, config, handle))
            except Exception:
                logger.exception("voice: a turn failed")
                return _xml(_say_then_hang_up(_prompts(config)["error"]))

        @voice.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            config = genuine_request_config(request, CHANNEL)
            if isinstance(config, HTTPResponse):
                return config
            phone = caller_of(request)
            if form_value(request, "CallStatus") in TERMINAL_CALL_STATUSES and phone:
                await keep_partial_lead(request, await conversation_for(config, CHANNEL, phone),
                                        phone)
            return response.empty()

        return voice

    async def _turn(self, request: Request, config: TwilioChannelConfig,
                    handle: Callable[..., Awaitable[None]]) -> VoiceResponse:
        phone = caller_of(request)
        if phone is None:
            return _say_then_hang_up(
                "Sorry, this line can only take calls from US numbers that aren't withheld. "
                "Please call again without blocking your number, or in an emergency dial 9 1 1.")
        digits = form_value(request, "Digits").strip()
        speech = form_value(request, "SpeechResult").strip()
        turn = request.args.get("t", "0")
        _current_turn.set(int(turn) if turn.isdigit() else 0)
        # Twilio retries a webhook it got no answer to: the same call, step and words are
        # answered again without a second effect (no second message, lead or staff text).
        turn_id = _turn_id(form_value(request, "CallSid"), request.query_string, digits, speech)
        if not await is_first_delivery(config, turn_id, CHANNEL):
            logger.info("voice: a replayed turn answered without effects")
            return _replayed_turn(turn_id, config, speech)
        reply = await self._answer_turn(request, config, handle, phone, digits, speech)
        _answered_turns.remember(turn_id, reply)
        return reply

    async def _answer_turn(self, request: Request, config: TwilioChannelConfig,
                           handle: Callable[..., Awaitable[None]], phone: str, digits: str,
                           speech: str) -> VoiceResponse:
        step = request.args.get("step", "")
        prompts = _prompts(config)
        conversation_id = await conversation_for(config, CHANNEL, phone)

        async def ask_assistant(text: str) -> VoiceResponse:
            collector = NamedCollectingOutputChannel(CHANNEL)
            text = clean_text(text)
            remember_sensitive(text)
            try:
                await handle(UserMessage(text_for_nlu(text) if text != SESSION_START else text,
                                         collector, conversation_id, input_channel=CHANNEL),
                             text, tracker_store_of(request))
            except DialogueTimeout:
                if not collector.messages:
                    raise
                # A slow assistant: what the channel said meanwhile (the crisis reply) is heard.
            if not collector.messages:
                # Paused for a counselor: the assistant stays quiet, the call does not. Or an
                # action failed and Rasa went on without it: the caller is still not left in
                # silence, and is put through while admissions is open.
                failed = await _an_action_failed(request, conversation_id)
                return await _while_a_counselor_is_awaited(config, phone, failed)
            ends_in_callback = bool(_voice_actions(collector.messages) & {HANG_UP, TRANSFER})
            known = not ends_in_callback or await _callback_time_known(phone)
            return render_turn(collector.messages, config, callback_time_known=known)

        if speech and step not in ("answer", "offer_988") and crisis_in(speech):
            # Words said at any step (the callback time included) meet the crisis net.
            return await ask_assistant(speech)
        if step == "":
            # A new call: the session start's voice greeting (automated, press 0 for a person).
            return await ask_assistant(SESSION_START)
        if step == "silence":
            n = int(request.args.get("n", "1") or 1)
            if n == 1:
                return _listen(VoiceResponse(), config, [prompts["reprompt"]], silence=2)
            if n == 2:
                return _listen(VoiceResponse(), config, [prompts["offer"]], silence=3)
            return _say_then_hang_up(prompts["goodbye"])
        if step == "after_dial":
            answered = form_value(request, "DialCallStatus") == "completed"
            return _say_then_hang_up("" if answered else prompts["no_answer"])
        if step == "callback_time":
            await _record_callback_time(conversation_id, phone, speech)
            return _say_then_hang_up(prompts["callback_noted"], prompts["goodbye_after_handoff"])
        if step == "offer_988" and (digits == "1" or (not digits and _YES_TO_988.search(speech))):
            logger.warning("voice: caller accepted the transfer to 988")
            reply = VoiceResponse()
            reply.say(prompts["connecting_988"], **VOICE)
            reply.dial("988")
            return reply
        if digits == "0":
            return await ask_assistant("counselor")
        return await ask_assistant(digits or speech)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def _an_action_failed(request: Request, conversation_id: str) -> bool:
    """Silence from a conversation nobody paused and with no handoff waiting: an action
    failed. Unknown (the store unreadable) counts as waiting, as before."""
    store = tracker_store_of(request)
    if store is None:
        return False
    try:
        stored = await store.retrieve(conversation_id)
        waiting = await service.place_in_queue(conversation_id)
    except Exception as error:  # noqa: BLE001 (the caller is answered either way)
        logger.error("voice: could not read the conversation (%s)", type(error).__name__)
        return False
    return stored is not None and not stored.is_paused() and waiting is None


async def _while_a_counselor_is_awaited(config: TwilioChannelConfig, phone: str,
                                        failed: bool = False) -> VoiceResponse:
    """A caller whose handoff is waiting: put through while admissions is open; after hours
    told when the counselor will call back, and listened to, so that anything they say, a
    crisis above all, still reaches the assistant and the crisis net. A caller whose turn
    failed is put through too, or after hours asked to say it again."""
    # Unreadable profile: hours unknown, so treated as closed; the caller is still listened
    # to, a crisis above all, rather than hung up on.
    profile = readable_profile(config.settings.facility_profile_path)
    now = _now()
    reply = VoiceResponse()
    if config.settings.admissions_phone and profile and profile.is_admissions_open(now):
        reply.say("Let me connect you with an admissions counselor.", **VOICE)
        _dial_admissions(reply, config)
        return reply
    if failed:
        sorry = channel_reply("utter_channel_error", CHANNEL)
        return _listen(reply, config, [speakable(sorry["text"])])
    callback = (profile.callback_phrase(now, await _callback_time_of(phone)) if profile
                else "as soon as admissions opens")
    waiting = channel_reply("utter_voice_callback_pending", CHANNEL, callback=callback)
    return _listen(reply, config, [speakable(waiting["text"])])


class _AnsweredTurns:
    """The TwiML each recent turn got, to answer Twilio's retry of it the same way."""

    def __init__(self, limit: int = 5000):
        self._replies: OrderedDict[str, VoiceResponse] = OrderedDict()
        self._limit = limit

    def remember(self, turn_id: str, reply: VoiceResponse) -> None:
        self._replies[turn_id] = reply
        while len(self._replies) > self._limit:
            self._replies.popitem(last=False)

    def get(self, turn_id: str) -> VoiceResponse | None:
        return self._replies.get(turn_id)


_answered_turns = _AnsweredTurns()


def _turn_id(call_sid: str, query: str, digits: str, speech: str) -> str:
    digest = hashlib.sha256("\x1f".join((call_sid, query, digits, speech)).encode()).hexdigest()
    return f"voice-{digest[:56]}"


def _replayed_turn(turn_id: str, config: TwilioChannelConfig, speech: str) -> VoiceResponse:
    """The first answer again; if another process gave it, a crisis still hears the crisis
    reply (with nothing recorded twice), and anything else is asked again."""
    earlier = _answered_turns.get(turn_id)
    if earlier is not None:
        return earlier
    match = crisis_in(speech)
    if match is not None:
        crisis = channel_reply(CRISIS_RESPONSE, CHANNEL, getattr(match, "language", "en"))
        return render_turn([crisis], config)
    return _listen(VoiceResponse(), config, [_prompts(config)["not_understood"]])


async def _callback_time_known(phone: str) -> bool:
    return bool(await _callback_time_of(phone))


async def _callback_time_of(phone: str) -> str | None:
    try:
        store = recorder_from_settings(load_settings()).store
        return await asyncio.to_thread(store.callback_time_of, phone)
    except Exception as error:  # any failure: then simply ask
        logger.warning("could not read the callback time (%s)", type(error).__name__)
        return None


async def _record_callback_time(conversation_id: str, phone: str, said: str) -> None:
    if said:
        await service.record(Submission(conversation_id, CHANNEL, lead=LeadDetails(
            status="incomplete", phone_e164=phone, phone_verified=True, best_time=said[:64])))
        logger.info("voice: callback time recorded")


async def keep_partial_lead(request: Request, conversation_id: str, phone: str) -> None:
    """A caller who hangs up mid-pre-screen keeps what they answered, as an incomplete lead.

    With the number they called from, so a counselor can reach them and a later text or call
    from that number adds to the same lead.
    """
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or agent.tracker_store is None:
        return
    tracker = await agent.tracker_store.retrieve(conversation_id)
    if tracker is None or tracker.active_loop_name is None:
        return  # not in the pre-screen: nothing half-finished to keep
    lead = lead_from_slots(tracker.current_slot_values(), channel_phone=phone)
    if lead is None:
        return
    await service.record(Submission(conversation_id, CHANNEL,
                                    lead=with_channel_phone(lead, phone)))
    logger.info("voice: caller hung up mid-pre-screen; partial lead kept")
