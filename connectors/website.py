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
from functools import lru_cache
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.local_secrets import conversation_id_secret
from bot.log_redaction import remember_sensitive
from bot.messaging.pseudonym import is_issued_web_conversation_id, issue_web_conversation_id
from bot.settings import load_settings
from connectors.limits import (
    clean_text,
    client_address,
    new_conversations_limiter,
    per_address_limiter,
    per_conversation_limiter,
    text_for_nlu,
)
from connectors.replies import channel_reply
from connectors.safety import (
    CRISIS_RESPONSE,
    crisis_in_message,
    raise_handoff_priority,
    tracker_store_of,
    with_crisis_reply,
)

logger = logging.getLogger(__name__)

CHANNEL = "rest"
# A 1,600-character message, even all emoji escaped in JSON, fits in well under this.
MAX_BODY_BYTES = 64 * 1024
CONVERSATION_HEADER = "X-Conversation-Id"
# Of a message refused for its rate, only this much is read for a crisis.
CHECKED_WHEN_REFUSED = 4000


@lru_cache(maxsize=1)
def _id_secret() -> bytes:
    return conversation_id_secret(load_settings())


def issued_conversation(sender: object) -> str | None:
    """The sender's conversation id if this server issued it; None means a new conversation."""
    if is_issued_web_conversation_id(sender, _id_secret()):
        return sender  # type: ignore[return-value]
    return None


def _error(status: int, reason: str) -> HTTPResponse:
    """For a client program's mistake (wrong JSON types, streaming): no person is reading."""
    return response.json({"error": reason}, status=status)


def _person_reply(status: int, conversation_id: str | None, *names: str, language: str = "en",
                  headers: dict[str, str] | None = None) -> HTTPResponse:
    """Refused, but in the protocol's own shape, so the chat shows the person why."""
    messages = [{"recipient_id": conversation_id, **channel_reply(name, language=language)}
                for name in names]
    extra = {CONVERSATION_HEADER: conversation_id} if conversation_id else {}
    return response.json(messages, status=status, headers={**extra, **(headers or {})})


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
                return _person_reply(413, None, "utter_message_too_long")
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
            settings = load_settings()
            address = client_address(request, settings)
            conversation_id = issued_conversation(body.get("sender"))
            known = conversation_id is not None
            reply = "utter_rate_limited"
            if known:
                wait = (per_address_limiter().retry_after(address)
                        or per_conversation_limiter().retry_after(conversation_id))
            else:
                wait = per_address_limiter().retry_after(address)
                if not wait:
                    wait = new_conversations_limiter().retry_after(address)
                    reply = "utter_too_many_new_conversations"
                conversation_id = issue_web_conversation_id(_id_secret())
                if not wait:  # its first message counts towards its own allowance too
                    per_conversation_limiter().retry_after(conversation_id)
            if wait:
                return await _over_the_limit(conversation_id, text, wait, known, reply)
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


async def _over_the_limit(conversation_id: str, text: str, wait: int, known: bool,
                          reply: str = "utter_rate_limited") -> HTTPResponse:
    """429 with Retry-After, in words a person understands; a crisis message still gets the
    crisis reply and, in a conversation already going, still moves the person's handoff up
    (staff texted at most every few minutes). A crisis in a new conversation refused for
    opening too many opens no handoff: that would let one address text staff without limit.
    Only the start of the message is read: refusing must stay cheap."""
    logger.warning("website: message over the rate limit")
    match = await crisis_in_message(text[:CHECKED_WHEN_REFUSED])
    names = [reply]
    if match is not None:
        names.insert(0, CRISIS_RESPONSE)  # someone in danger reads the crisis reply first
        if known:
            await raise_handoff_priority(conversation_id, CHANNEL)
    language = getattr(match, "language", "en") if match else "en"
    return _person_reply(429, conversation_id, *names, language=language,
                         headers={"Retry-After": str(wait)})


def _json_body(request: Request) -> Any:
    """The body as JSON; bytes that are not UTF-8 are read with replacement characters, so a
    stray byte from an old browser still reaches the assistant (and the crisis net)."""
    try:
        return json.loads((request.body or b"").decode("utf-8", "replace"))
    except ValueError:
        return None
