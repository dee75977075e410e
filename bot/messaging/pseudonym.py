"""Conversation ids for phone channels that are not phone numbers.

Rasa keys its tracker store by the sender id. Keyed by the raw number, every conversation
row would name who texted an addiction helpline. An HMAC of channel and number with a
server secret gives the same id each time the person comes back, yet reveals nothing
without the secret. The lead, which must hold the number, stores it in the leads database.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def conversation_id_for(channel: str, phone_e164: str, secret: bytes) -> str:
    """"twilio_sms-3f2a...": stable for one person on one channel, different across channels."""
    digest = hmac.new(secret, f"{channel}:{phone_e164}".encode(), hashlib.sha256).hexdigest()
    return f"{channel}-{digest[:32]}"


def load_or_create_secret(configured: str | None, path: Path) -> bytes:
    """The configured secret, else one generated once and kept beside the local data.

    A generated secret must survive restarts: a new one would start everyone's conversation
    afresh. It is written with mode 0600 and never logged.
    """
    if configured:
        return configured.encode()
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (Rasa, the action server) made it first
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(value)
    return value
