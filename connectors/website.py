"""The website chat channel: Rasa's REST channel plus the crisis reply while paused."""
from __future__ import annotations

from typing import Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from connectors.safety import answer_crisis_when_silent


class WebsiteInput(RestInput):
    """Same URL and body as the REST channel: POST /webhooks/rest/webhook."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        return super().blueprint(answer_crisis_when_silent(on_new_message))
