"""Gives a paused conversation back to the assistant: posts `ConversationResumed` to Rasa."""
from __future__ import annotations

import json
import urllib.parse
import urllib.request


def resume_conversation(conversation_id: str, rasa_url: str, token: str | None = None,
                        timeout: float = 10.0) -> None:
    """Raises urllib.error.URLError / HTTPError when Rasa does not accept it."""
    path = f"/conversations/{urllib.parse.quote(conversation_id, safe='')}/tracker/events"
    query = f"?{urllib.parse.urlencode({'token': token})}" if token else ""
    request = urllib.request.Request(
        rasa_url.rstrip("/") + path + query,
        # The action_listen after the resume puts the dialogue back in "waiting for the
        # person", so the next message is handled as a fresh turn by the rules.
        data=json.dumps([{"event": "resume"},
                         {"event": "action", "name": "action_listen"}]).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
