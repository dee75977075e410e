"""The channel's guarantee: a crisis message never goes without the 911/988 reply."""
from __future__ import annotations

import asyncio

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors import safety
from connectors.limits import MAX_MESSAGE_CHARS, text_for_nlu
from connectors.safety import with_crisis_reply
from connectors.twilio_common import NamedCollectingOutputChannel


@pytest.fixture(autouse=True)
def raised(monkeypatch):
    """The conversations whose handoff was moved to the top of the queue."""
    moved = []

    async def fake_raise(message):
        moved.append(message.sender_id)

    monkeypatch.setattr(safety, "_raise_handoff_priority", fake_raise)
    return moved


def deliver(text: str, assistant_replies: list[str], collector=None, crash=False) -> list[dict]:
    async def assistant(message: UserMessage) -> None:
        for reply in assistant_replies:
            await message.output_channel.send_text_message(message.sender_id, reply)
        if crash:
            raise RuntimeError("the model failed")

    collector = collector or CollectingOutputChannel()
    asyncio.run(with_crisis_reply(assistant)(
        UserMessage(text_for_nlu(text), collector, "conv-1", input_channel="rest"), text))
    return collector.messages


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


def test_paused_conversation_gets_the_crisis_reply_and_the_handoff_moves_up(raised, responses):
    assert texts(deliver("he overdosed and isn't breathing", [])) == [
        responses["utter_crisis"][0]["text"]]
    assert raised == ["conv-1"]


def test_paused_conversation_stays_quiet_for_ordinary_messages(raised):
    assert deliver("ok thanks, I'll wait", []) == []
    assert raised == []


def test_an_assistant_that_already_answered_is_not_doubled(raised, responses):
    own_reply = responses["utter_crisis"][0]["text"]
    assert texts(deliver("I want to kill myself", [own_reply])) == [own_reply]
    assert raised == []


def test_crisis_words_past_what_nlu_reads_still_get_the_reply(responses):
    long_story = "we have been struggling with this for years. " * 60 + "and now I want to die"
    assert len(long_story) > MAX_MESSAGE_CHARS
    replies = texts(deliver(long_story, ["Sorry, I'm not sure I understood."]))
    assert replies[-1] == responses["utter_crisis"][0]["text"]


def test_an_assistant_that_fails_still_lets_the_crisis_reply_out(responses):
    collector = CollectingOutputChannel()
    with pytest.raises(RuntimeError):
        deliver("my friend is not breathing", [], collector=collector, crash=True)
    assert texts(collector.messages) == [responses["utter_crisis"][0]["text"]]


def test_on_a_call_it_is_the_spoken_reply_with_the_offer_to_connect_to_988(responses):
    messages = deliver("I took all my pills", [], collector=NamedCollectingOutputChannel(
        "twilio_voice"))
    voice_variation = next(v for v in responses["utter_crisis"]
                           if v.get("channel") == "twilio_voice" and not v.get("condition"))
    assert texts(messages) == [voice_variation["text"]]
    assert {"voice": "offer_988"} in [m.get("custom") for m in messages]


def test_nlu_never_reads_a_rasa_command_or_more_than_the_limit():
    assert text_for_nlu('/request_human{"ps_phone": "+13125550142"}').startswith("request_human")
    assert len(text_for_nlu("x" * 10_000)) == MAX_MESSAGE_CHARS
