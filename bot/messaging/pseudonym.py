"""Conversation ids that reveal nothing: phone pseudonyms, and signed website ids.

Rasa keys its tracker store by the sender id. Keyed by the raw number, every conversation
row would name who texted an addiction helpline. An HMAC of channel and number with a
server secret gives the same id each time the person comes back, yet reveals nothing
without the secret. The lead, which must hold the number, stores it in the leads database.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

WEB_PREFIX = "web-"


def conversation_id_for(channel: str, phone_e164: str, secret: bytes) -> str:
    """"twilio_sms-3f2a...": stable for one person on one channel, different across channels."""
    digest = hmac.new(secret, f"{channel}:{phone_e164}".encode(), hashlib.sha256).hexdigest()
    return f"{channel}-{digest[:32]}"


def issue_web_conversation_id(secret: bytes) -> str:
    """A new website conversation id: 144 random bits, signed so that only ids this server
    issued are accepted back ("web-<nonce>.<signature>")."""
    nonce = secrets.token_urlsafe(18)
    return f"{WEB_PREFIX}{nonce}.{_web_signature(nonce, secret)}"


def is_issued_web_conversation_id(value: object, secret: bytes) -> bool:
    """True only for an id `issue_web_conversation_id` made with this secret.

    A guessed, altered or phone-channel id is refused, so a visitor can neither pick their own
    conversation nor continue somebody else's.
    """
    if not isinstance(value, str) or not value.startswith(WEB_PREFIX) or len(value) > 96:
        return False
    nonce, _, signature = value[len(WEB_PREFIX):].partition(".")
    # Compared as bytes: compare_digest refuses a str with non-ASCII characters ("٠").
    return bool(nonce) and hmac.compare_digest(signature.encode("utf-8", "replace"),
                                               _web_signature(nonce, secret).encode())


def _web_signature(nonce: str, secret: bytes) -> str:
    # "web:" keeps these signatures apart from the phone pseudonyms made with the same secret.
    return hmac.new(secret, f"web:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]
