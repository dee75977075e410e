"""Who may talk to the assistant from the website, and how often: shared by both website
channels, the REST webhook (connectors/website.py) and the chat widget's socket.io channel
(connectors/website_chat.py).

Conversation ids come from the server, signed (bot/messaging/pseudonym.py): nobody picks an
id, guesses one, or continues someone else's. Each client address, each conversation and the
opening of new conversations have their own rate; a message refused for its rate still gets
the crisis reply when it needs one.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from bot.local_secrets import conversation_id_secret
from bot.messaging.pseudonym import is_issued_web_conversation_id, issue_web_conversation_id
from bot.settings import load_settings
from connectors.limits import (
    new_conversations_limiter,
    per_address_limiter,
    per_conversation_limiter,
)
from connectors.replies import channel_reply
from connectors.safety import CRISIS_RESPONSE, crisis_in_message, raise_handoff_priority

logger = logging.getLogger(__name__)

# Of a message refused for its rate, only this much is read for a crisis: refusing must stay
# cheap.
CHECKED_WHEN_REFUSED = 4000
RATE_LIMITED = "utter_rate_limited"
TOO_MANY_NEW = "utter_too_many_new_conversations"


@lru_cache(maxsize=1)
def _id_secret() -> bytes:
    return conversation_id_secret(load_settings())


def issued_conversation(sender: object) -> str | None:
    """The sender's conversation id if this server issued it; None means a new conversation."""
    if is_issued_web_conversation_id(sender, _id_secret()):
        return sender  # type: ignore[return-value]
    return None


async def new_conversation(address: str) -> tuple[str, int | None, str]:
    """A freshly issued conversation id, and the wait (None: go ahead) and reply that refuse
    it when this address is over its message rate or has opened too many conversations."""
    conversation_id = issue_web_conversation_id(_id_secret())
    wait = await per_address_limiter().retry_after(address)
    if wait:
        return conversation_id, wait, RATE_LIMITED
    wait = await new_conversations_limiter().retry_after(address)
    if wait:
        return conversation_id, wait, TOO_MANY_NEW
    return conversation_id, None, RATE_LIMITED


async def message_wait(address: str, conversation_id: str) -> int | None:
    """Seconds until this address may send to this conversation again; None: go ahead."""
    return (await per_address_limiter().retry_after(address)
            or await per_conversation_limiter().retry_after(conversation_id))


async def rejoin_wait(address: str) -> int | None:
    """Rejoining a conversation reads all of it: it counts as one of the address's messages."""
    return await per_address_limiter().retry_after(address)


async def count_first_message(conversation_id: str) -> None:
    """A new conversation's first message counts towards its own allowance too."""
    await per_conversation_limiter().retry_after(conversation_id)


async def refusal_replies(conversation_id: str, text: str, known: bool, reply: str,
                          channel: str) -> list[dict[str, Any]]:
    """What a person is told when a message is refused for its rate, as message dicts.

    A crisis message still gets the crisis reply, first, and in a conversation already going
    still moves the person's handoff up (staff texted at most every few minutes). A crisis in
    a new conversation refused for opening too many opens no handoff: that would let one
    address text staff without limit.
    """
    logger.warning("website: message over the rate limit")
    match = await crisis_in_message(text[:CHECKED_WHEN_REFUSED])
    names = [reply]
    if match is not None:
        names.insert(0, CRISIS_RESPONSE)
        if known:
            await raise_handoff_priority(conversation_id, channel)
    language = getattr(match, "language", "en") if match else "en"
    return [channel_reply(name, channel, language=language) for name in names]
