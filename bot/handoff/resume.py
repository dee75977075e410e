"""Gives a paused conversation back to the assistant: posts `ConversationResumed` to Rasa.

Only through Rasa's HTTP API (with its token): the SQL tracker store appends by counting rows,
so nothing else may write to it.
"""
from __future__ import annotations

import json
import urllib.parse
import urllib.request


class NotPaused(LookupError):
    """The conversation does not exist, or the assistant is already answering it."""


def resume_conversation(conversation_id: str, rasa_url: str, token: str | None = None,
                        timeout: float = 10.0) -> None:
    """Raises NotPaused for an unknown or unpaused conversation (nothing is written then), and
    urllib.error.URLError / HTTPError when Rasa does not answer or accept it."""
    path = f"/conversations/{urllib.parse.quote(conversation_id, safe='')}/tracker"
    query = f"?{urllib.parse.urlencode({'token': token})}" if token else ""
    base = rasa_url.rstrip("/") + path
    # Rasa accepts events for any id, even one that never existed: look first. Only a
    # conversation a handoff paused is paused; an unknown one is not.
    with urllib.request.urlopen(f"{base}{query}{'&' if query else '?'}include_events=NONE",
                                timeout=timeout) as response:
        tracker = json.loads(response.read() or b"{}")
    if not tracker.get("paused"):
        raise NotPaused(conversation_id)
    request = urllib.request.Request(
        f"{base}/events{query}",
        # The action_listen after the resume puts the dialogue back in "waiting for the
        # person", so the next message is handled as a fresh turn by the rules.
        data=json.dumps([{"event": "resume"},
                         {"event": "action", "name": "action_listen"}]).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
