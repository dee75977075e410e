"""The helpline number's SMS channel: POST /webhooks/twilio_sms/webhook.

Replaces Rasa's built-in `twilio` channel, which checks no signature, blocks the event loop
on a REST call per reply, crashes on a picture with no text and answers Twilio's retries twice.
Here each inbound text is, in order:
1. refused with 403 unless Twilio signed it;
2. dropped (200, empty TwiML) if its MessageSid was already handled: a Twilio retry;
3. checked for STOP / START / HELP, which the connector answers itself;
4. passed to the assistant under a pseudonymous conversation id, and the reply returned as
   TwiML <Message>s in the same HTTP response; past the reply budget Twilio gets an empty
   <Response/> at once and the reply follows through the REST API.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.twiml.messaging_response import MessagingResponse

from bot.facility import readable_profile
from bot.log_redaction import remember_sensitive
from bot.messaging.keywords import Keyword, keyword_of
from bot.messaging.outbound import Purpose
from bot.messaging.segments import split_for_sms
from bot.messaging.twilio_api import outbound_from_settings
from connectors.limits import clean_text, text_for_nlu
from connectors.replies import channel_reply
from connectors.safety import (
    CRISIS_RESPONSE,
    crisis_in,
    crisis_in_message,
    crisis_reply_sent,
    raise_handoff_priority,
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

CHANNEL = "twilio_sms"
# Late replies in flight, kept referenced so they are not garbage-collected mid-send.
_late_replies: set[asyncio.Task] = set()


def twiml(*bodies: str) -> HTTPResponse:
    reply = MessagingResponse()
    for body in bodies:
        for part in split_for_sms(body):
            reply.message(part)
    return response.text(str(reply), content_type="application/xml")


def keyword_reply(keyword: Keyword, config: TwilioChannelConfig) -> str:
    # HELP and STOP are answered before any crisis check and carry 911/988 themselves: an
    # unreadable profile leaves out the center's name and number, not the reply.
    profile = readable_profile(config.settings.facility_profile_path)
    center = f"{profile.name} " if profile else ""
    if keyword is Keyword.OPT_OUT:
        return (f"You're unsubscribed from {center}texts and won't get more. Reply START "
                f"to text with us again. In an emergency call 911; for thoughts of suicide call "
                f"or text 988.")
    if keyword is Keyword.OPT_IN:
        return (f"You're subscribed again to {center}texts. I'm the automated assistant; "
                f"ask me about our outpatient program, or say 'counselor'. Reply STOP to opt out.")
    reach = (f"{profile.name} admissions: call {profile.helpline_phone}, or text 'counselor'"
             if profile else "Admissions: text 'counselor'")
    return (f"{reach} to reach a person. Automated assistant; msg & data rates may apply. "
            f"Reply STOP to opt out. In an emergency call 911, or call or text 988.")


def texts_of(messages: list[dict[str, Any]]) -> list[str]:
    """What can go by SMS: text, with any buttons as numbered choices; images are skipped."""
    texts = []
    for message in messages:
        text = message.get("text") or ""
        buttons = message.get("buttons") or []
        if buttons:
            text += " " + " ".join(f"{i}) {b.get('title', '')}" for i, b in enumerate(buttons, 1))
        if text.strip():
            texts.append(text.strip())
    return texts


class TwilioSmsInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        # No budget inside: this channel keeps its own (below), with a late reply past it.
        handle = with_crisis_reply(on_new_message, budget_s=None, acknowledge_waiting=True)
        sms = Blueprint("twilio_sms_webhook", __name__)
        add_health_route(sms)

        @sms.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            config = genuine_request_config(request, CHANNEL)
            if isinstance(config, HTTPResponse):
                return config
            phone = caller_of(request)
            if phone is None:  # withheld or not a US number: nothing to key a conversation by
                return twiml()
            message_sid = form_value(request, "MessageSid")
            if not await is_first_delivery(config, message_sid, CHANNEL):
                logger.info("sms webhook: duplicate delivery ignored")
                return twiml()
            text = clean_text(form_value(request, "Body")).strip()
            remember_sensitive(text)
            keyword = keyword_of(text)
            if keyword in (Keyword.OPT_OUT, Keyword.OPT_IN):
                return await self._change_subscription(config, keyword, phone, message_sid)
            return await self._answer(request, config, phone, text, keyword, handle)

        return sms

    @staticmethod
    async def _change_subscription(config: TwilioChannelConfig, keyword: Keyword, phone: str,
                                   message_sid: str) -> HTTPResponse:
        """STOP or START, stored before it is confirmed.

        A STOP that could not be stored must not be lost: the delivery is forgotten again and
        Twilio told to retry (5xx), rather than confirming an opt-out nothing would honour.
        """
        change = config.store.opt_out if keyword is Keyword.OPT_OUT else config.store.opt_in
        try:
            await asyncio.to_thread(change, phone)
        except Exception as error:
            logger.error("sms: %s not stored (%s); asking Twilio to retry", keyword.value,
                         type(error).__name__)
            try:
                await asyncio.to_thread(config.store.forget_delivery, message_sid)
            except Exception:  # then the delivery was most likely never recorded either
                pass
            return response.text("could not store the opt-out state; retry", status=503)
        logger.info("sms: %s recorded", keyword.value)
        return twiml(keyword_reply(keyword, config))

    async def _answer(self, request: Request, config: TwilioChannelConfig, phone: str,
                      text: str, keyword: Keyword | None,
                      handle: Callable[..., Awaitable[None]]) -> HTTPResponse:
        if await _opted_out(config, phone) and crisis_in(text) is None:
            # They said STOP: nothing but START (or a crisis, below) gets an answer.
            return twiml()
        if keyword is Keyword.HELP:
            return twiml(keyword_reply(keyword, config))
        media_count = form_value(request, "NumMedia")
        if not text and media_count not in ("", "0"):
            return twiml("I can only read text here, not pictures or other attachments. "
                         "Could you type your question? Or text 'counselor' to reach a person.")
        conversation_id = await conversation_for(config, CHANNEL, phone)
        collector = NamedCollectingOutputChannel(CHANNEL)
        message = UserMessage(text_for_nlu(text), collector, conversation_id,
                              input_channel=CHANNEL)
        turn = asyncio.create_task(handle(message, text, tracker_store_of(request)))
        try:
            await asyncio.wait_for(asyncio.shield(turn), config.settings.sms_reply_budget_seconds)
        except asyncio.TimeoutError:
            match = await crisis_in_message(text)
            if match is None:
                logger.warning("sms: reply over budget; it will follow through the REST API")
                _follow_late(turn, collector, phone, config, Purpose.REPLY, skip_crisis=False)
                return twiml()
            # A crisis does not wait for a slow assistant: the crisis reply goes now, inline,
            # and whatever else the assistant says follows late (without a second one).
            logger.warning("sms: assistant over budget on a crisis message; answered inline")
            await raise_handoff_priority(conversation_id, CHANNEL)
            _follow_late(turn, collector, phone, config, Purpose.CRISIS_REPLY, skip_crisis=True)
            return twiml(channel_reply(CRISIS_RESPONSE, CHANNEL, match.language)["text"])
        except Exception as error:
            # What was said before the failure goes out (a crisis reply among it, if any).
            logger.error("sms: the assistant failed on a message (%s)", type(error).__name__)
            return twiml(*texts_of(collector.messages),
                         channel_reply("utter_channel_error")["text"])
        return twiml(*texts_of(collector.messages))


async def _opted_out(config: TwilioChannelConfig, phone: str) -> bool:
    try:
        return await asyncio.to_thread(config.store.is_opted_out, phone)
    except Exception as error:  # they are texting us now, so a reply to them is expected
        logger.warning("opt-out state unavailable (%s)", type(error).__name__)
        return False


def _follow_late(turn: asyncio.Task, collector: NamedCollectingOutputChannel, phone: str,
                 config: TwilioChannelConfig, purpose: Purpose, skip_crisis: bool) -> None:
    late = asyncio.create_task(_send_late(turn, collector, phone, config, purpose, skip_crisis))
    _late_replies.add(late)
    late.add_done_callback(_late_replies.discard)


async def _send_late(turn: asyncio.Task, collector: NamedCollectingOutputChannel, phone: str,
                     config: TwilioChannelConfig, purpose: Purpose, skip_crisis: bool) -> None:
    """What the assistant said past the reply budget, by the REST API; what it said before
    failing too (a crisis reply among it), unless the crisis reply already went inline."""
    try:
        await turn
    except Exception as error:
        logger.error("sms: the assistant failed on a message answered late (%s)",
                     type(error).__name__)
    messages = [m for m in collector.messages if not (skip_crisis and crisis_reply_sent([m]))]
    outbound = outbound_from_settings(config.settings)
    for text in texts_of(messages):
        outcome = await outbound.send(phone, text, purpose)
        if not outcome.sent:
            logger.warning("sms: late reply not sent (%s)", outcome.reason)
