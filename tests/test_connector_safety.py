"""A conversation paused for a counselor still gets the 911/988 reply to a crisis message."""
from __future__ import annotations

import asyncio

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors import safety
from connectors.safety import answer_crisis_when_silent, crisis_reply_text


def deliver(text: str, assistant_replies: list[str]) -> list[str]:
    async def assistant(message: UserMessage) -> None:
        for reply in assistant_replies:
            await message.output_channel.send_text_message(message.sender_id, reply)

    collector = CollectingOutputChannel()
    asyncio.run(answer_crisis_when_silent(assistant)(
        UserMessage(text, collector, "conv-1", input_channel="rest")))
    return [m["text"] for m in collector.messages]


def test_paused_conversation_gets_the_crisis_reply_and_the_handoff_moves_up(monkeypatch):
    raised = []

    async def fake_raise(message):
        raised.append(message.sender_id)

    monkeypatch.setattr(safety, "_raise_handoff_priority", fake_raise)
    assert deliver("he overdosed and isn't breathing", []) == [crisis_reply_text()]
    assert raised == ["conv-1"]


def test_paused_conversation_stays_quiet_for_ordinary_messages():
    assert deliver("ok thanks, I'll wait", []) == []


def test_an_assistant_that_already_answered_is_not_doubled():
    assert deliver("I want to kill myself", ["the assistant's own crisis reply"]) == [
        "the assistant's own crisis reply"]


def test_the_crisis_reply_is_the_same_text_as_everywhere_else(responses):
    assert crisis_reply_text() == responses["utter_crisis"][0]["text"]
