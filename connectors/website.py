"""The website chat channel: Rasa's REST protocol, closed by default.

POST /webhooks/rest/webhook {"sender": "<id>", "message": "<text>"} answers a list of
messages, as Rasa's REST channel does, so outside clients keep working. What differs:
- conversation ids come from the server. A request whose `sender` is missing, or is not an
  id this server issued (signed, bot/messaging/pseudonym.py), starts a new conversation; its
  id comes back as `recipient_id` on every message of the reply and in the
  `X-Conversation-Id` header, and the client sends it as `sender` from then on. Nobody picks
  an id, guesses one, or shares "default" with everyone who sent none;
- `input_channel` is always "rest", and client metadata is not stored;
- bodies over MAX_BODY_BYTES get 413, a `message` that is not a string 400, a streamed reply
  (`?stream=true`) 400, and too many messages 429 with Retry-After: each with a kind reply
  where a person may be waiting, and none of them logs what was sent;
- the text NLU reads is cut at MAX_MESSAGE_CHARS; the crisis net reads all of it.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.log_redaction import remember_sensitive
from bot.settings import load_settings
from connectors.limits import clean_text, client_address, text_for_nlu
from connectors.replies import channel_reply
from connectors.safety import tracker_store_of, with_crisis_reply
from connectors.website_access import (
    RATE_LIMITED,
    count_first_message,
    issued_conversation,
    message_wait,
    new_conversation,
    refusal_replies,
)

logger = logging.getLogger(__name__)

CHANNEL = "rest"
# A 1,600-character message, even all emoji escaped in JSON, fits in well under this.
MAX_BODY_BYTES = 64 * 1024
CONVERSATION_HEADER = "X-Conversation-Id"


def _error(status: int, reason: str) -> HTTPResponse:
    """For a client program's mistake (wrong JSON types, streaming): no person is reading."""
    return response.json({"error": reason}, status=status)


def _person_reply(status: int, conversation_id: str | None, messages: list[dict[str, Any]],
                  headers: dict[str, str] | None = None) -> HTTPResponse:
    """Refused, but in the protocol's own shape, so the chat shows the person why."""
    body = [{"recipient_id": conversation_id, **message} for message in messages]
    extra = {CONVERSATION_HEADER: conversation_id} if conversation_id else {}
    return response.json(body, status=status, headers={**extra, **(headers or {})})


class WebsiteInput(RestInput):
    """Same URL and body as Rasa's REST channel: POST /webhooks/rest/webhook."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        handle = with_crisis_reply(on_new_message, acknowledge_waiting=True)
        website = Blueprint("website_webhook", __name__)

        @website.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @website.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_BODY_BYTES:
                return _person_reply(413, None, [channel_reply("utter_message_too_long")])
            if request.args.get("stream", "false").lower() not in ("false", "0", ""):
                return _error(400, "streamed replies are not supported; omit ?stream")
            body = _json_body(request)
            if not isinstance(body, dict):
                return _error(400, "the body must be a JSON object")
            text = body.get("message")
            if text is None:
                text = ""
            if not isinstance(text, str):
                return _error(400, "'message' must be a string")
            text = clean_text(text)
            remember_sensitive(text)
            remember_sensitive(text_for_nlu(text))
            address = client_address(request, load_settings())
            conversation_id = issued_conversation(body.get("sender"))
            known = conversation_id is not None
            reply = RATE_LIMITED
            if known:
                wait = await message_wait(address, conversation_id)
            else:
                conversation_id, wait, reply = await new_conversation(address)
                if not wait:
                    await count_first_message(conversation_id)
            if wait:
                messages = await refusal_replies(conversation_id, text, known, reply, CHANNEL)
                return _person_reply(429, conversation_id, messages,
                                     headers={"Retry-After": str(wait)})
            return await self._answer(handle, conversation_id, text, tracker_store_of(request))

        return website

    @staticmethod
    async def _answer(handle: Callable[..., Awaitable[None]], conversation_id: str,
                      text: str, tracker_store: Any) -> HTTPResponse:
        collector = CollectingOutputChannel()
        message = UserMessage(text_for_nlu(text), collector, conversation_id,
                              input_channel=CHANNEL)
        try:
            await handle(message, text, tracker_store)
        except (Exception, asyncio.CancelledError) as error:  # Rasa's response timeout too
            logger.error("website: the assistant failed on a message (%s)", type(error).__name__)
            await collector.send_text_message(conversation_id,
                                              channel_reply("utter_channel_error")["text"])
        return response.json(collector.messages, headers={CONVERSATION_HEADER: conversation_id})


def _json_body(request: Request) -> Any:
    """The body as JSON; bytes that are not UTF-8 are read with replacement characters, so a
    stray byte from an old browser still reaches the assistant (and the crisis net)."""
    try:
        return json.loads((request.body or b"").decode("utf-8", "replace"))
    except ValueError:
        return None
