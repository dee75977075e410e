"""A tiny client for the assistant's REST channel (used by chat, tests and the benchmark)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

WEBHOOK = "/webhooks/rest/webhook"
CONVERSATION_HEADER = "X-Conversation-Id"


@dataclass
class Answer:
    status: int
    headers: Any  # case-insensitive: headers.get("Retry-After")
    body: Any


def post(base_url: str, body: Any, path: str = WEBHOOK, timeout_s: float = 30,
         raw: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    """POSTs JSON (or raw bytes) and returns the answer whatever its status."""
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=raw if raw is not None else json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, answer_headers, content = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, content = error.code, error.headers, error.read()
    try:
        parsed = json.loads(content or b"null")
    except ValueError:
        parsed = content.decode("utf-8", "replace")
    return Answer(status, answer_headers, parsed)


@dataclass
class WebsiteConversation:
    """One visitor's conversation. The server issues its id: the first reply carries it
    (header and `recipient_id`), and every later message sends it back as `sender`."""

    base_url: str
    timeout_s: float = 30
    conversation_id: str | None = None
    # Sent with every message (a test's X-Forwarded-For behind a proxy, say).
    headers: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)

    def send(self, text: str) -> list[dict]:
        body = {"message": text}
        if self.conversation_id:
            body["sender"] = self.conversation_id
        answer = post(self.base_url, body, timeout_s=self.timeout_s, headers=self.headers)
        self.answers.append(answer)
        if answer.status != 200:
            raise RuntimeError(f"the assistant answered {answer.status}")
        self.conversation_id = answer.headers.get(CONVERSATION_HEADER) or self.conversation_id
        return answer.body

    def texts(self, text: str) -> list[str]:
        return texts(self.send(text))


def texts(messages: list[dict]) -> list[str]:
    return [message["text"] for message in messages if message.get("text")]
