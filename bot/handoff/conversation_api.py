"""Reads a conversation's transcript and adds a counselor's message, through Rasa's HTTP API.

Only through the API, with its token: Rasa's SQL tracker store appends by counting rows, so
nothing else may write to it, and a counselor's message posted as a `bot` event with
`execute_side_effects=true&output_channel=latest` is also delivered live to an open website
chat (connectors/website_chat.py shows `metadata.counselor` as a person writing).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

# httpx logs every request's URL at INFO, and Rasa's token travels in the query string.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

# Long enough for a busy Rasa on two cores, short enough that a console page never hangs.
TIMEOUT_S = 10.0


class ConversationApiError(RuntimeError):
    """Rasa did not answer, or refused; the message is safe for a log (no text, no id)."""


@dataclass(frozen=True)
class TranscriptLine:
    # "person", "assistant" or "counselor".
    speaker: str
    text: str
    at: dt.datetime
    # The counselor's first name, for their lines.
    name: str | None = None


@dataclass(frozen=True)
class Transcript:
    lines: list[TranscriptLine]
    paused: bool
    latest_channel: str | None
    # When the person last wrote (None: never), which decides whether a text is a reply.
    person_last_wrote: dt.datetime | None
    # How many events the tracker holds: the live view watches it to know when to refresh.
    event_count: int


def transcript_from_events(tracker: dict[str, Any]) -> Transcript:
    lines: list[TranscriptLine] = []
    last_wrote = None
    events = tracker.get("events") or []
    for event in events:
        kind, text = event.get("event"), event.get("text")
        if not isinstance(text, str) or not text:
            continue
        at = dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), dt.timezone.utc)
        if kind == "user":
            lines.append(TranscriptLine("person", text, at))
            last_wrote = at
        elif kind == "bot":
            counselor = (event.get("metadata") or {}).get("counselor")
            if isinstance(counselor, dict):
                lines.append(TranscriptLine("counselor", text, at,
                                            str(counselor.get("name") or "")[:64]))
            else:
                lines.append(TranscriptLine("assistant", text, at))
    channel = (tracker.get("latest_input_channel") or None)
    return Transcript(lines, bool(tracker.get("paused")), channel, last_wrote, len(events))


@dataclass(frozen=True)
class ConversationApi:
    rasa_url: str
    token: str

    def _url(self, conversation_id: str, suffix: str = "", **query: str) -> str:
        path = f"/conversations/{urllib.parse.quote(conversation_id, safe='')}/tracker{suffix}"
        encoded = urllib.parse.urlencode({**query, "token": self.token})
        return f"{self.rasa_url.rstrip('/')}{path}?{encoded}"

    async def transcript(self, conversation_id: str) -> Transcript:
        tracker = await self._call("GET", self._url(conversation_id, include_events="ALL"))
        return transcript_from_events(tracker)

    async def event_count(self, conversation_id: str) -> int:
        return (await self.transcript(conversation_id)).event_count

    async def add_counselor_message(self, conversation_id: str, text: str, name: str,
                                    role: str, deliver: bool) -> None:
        """Stores the message in the transcript as the counselor's.

        `deliver` also sends it on the conversation's own channel through Rasa (the website
        chat). An SMS goes out through our one outbound sender instead (opt-outs, quiet hours),
        and only then is stored here without side effects, so it is never sent twice.
        """
        event = {"event": "bot", "text": text, "timestamp": time.time(),
                 "metadata": {"counselor": {"name": name, "role": role}}}
        query = {"execute_side_effects": "true", "output_channel": "latest"} if deliver else {}
        await self._call("POST", self._url(conversation_id, "/events", **query), json=event)

    async def _call(self, method: str, url: str, json: Any = None) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                response = await client.request(method, url, json=json)
        except httpx.HTTPError as error:
            raise ConversationApiError(f"Rasa did not answer ({type(error).__name__})") from None
        if response.status_code >= 400:
            raise ConversationApiError(f"Rasa answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ConversationApiError("Rasa's answer was not JSON") from None
