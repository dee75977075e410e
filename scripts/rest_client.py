"""A tiny client for the assistant's REST channel (used by chat, tests and the benchmark)."""
from __future__ import annotations

import json
import urllib.request


def send(base_url: str, sender: str, text: str, timeout_s: float = 30) -> list[dict]:
    """POST one message; returns the bot's messages as Rasa sends them."""
    request = urllib.request.Request(
        f"{base_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read() or b"[]")


def texts(messages: list[dict]) -> list[str]:
    return [message["text"] for message in messages if message.get("text")]
