"""The channel's guarantee: a crisis message never goes without the 911/988 reply."""
from __future__ import annotations

import asyncio
import re
import types

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

# Imported before the fixture below replaces raise_handoff_priority: it keeps the real one.
from connectors import safety, website_access
from connectors.limits import MAX_MESSAGE_CHARS, text_for_nlu
from connectors.safety import with_crisis_reply
from connectors.twilio_common import NamedCollectingOutputChannel


@pytest.fixture(autouse=True)
def raised(monkeypatch):
    """The conversations whose handoff was moved to the top of the queue."""
    moved = []

    async def fake_raise(conversation_id, channel):
        moved.append(conversation_id)

    monkeypatch.setattr(safety, "raise_handoff_priority", fake_raise)
    return moved


def deliver(text: str, assistant_replies: list[str], collector=None, crash=False,
            hang_s: float = 0, tracker_store=None, budget_s: float = 5,
            acknowledge_waiting=False) -> list[dict]:
    async def assistant(message: UserMessage) -> None:
        await asyncio.sleep(hang_s)
        for reply in assistant_replies:
            await message.output_channel.send_text_message(message.sender_id, reply)
        if crash:
            raise RuntimeError("the model failed")

    collector = collector or CollectingOutputChannel()
    asyncio.run(with_crisis_reply(assistant, budget_s, acknowledge_waiting)(
        UserMessage(text_for_nlu(text), collector, "conv-1", input_channel="rest"), text,
        tracker_store))
    return collector.messages


class PausedTrackerStore:
    """Rasa's tracker store as a paused conversation leaves it: the latest message classified,
    nothing answered."""

    def __init__(self, intent: str, language: str | None = None, paused: bool = True):
        self.intent, self.language, self.paused = intent, language, paused

    async def retrieve(self, conversation_id):
        latest = types.SimpleNamespace(intent={"name": self.intent, "confidence": 0.99})
        return types.SimpleNamespace(latest_message=latest, is_paused=lambda: self.paused,
                                     get_slot=lambda name: self.language)


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


def test_paused_conversation_gets_the_crisis_reply_and_the_handoff_moves_up(raised, responses):
    assert texts(deliver("he overdosed and isn't breathing", [])) == [
        responses["utter_crisis"][0]["text"]]
    assert raised == ["conv-1"]


def test_paused_conversation_stays_quiet_for_ordinary_messages(raised):
    assert deliver("ok thanks, I'll wait", []) == []
    assert raised == []


def test_silence_on_a_conversation_nobody_paused_gets_a_kind_error_not_nothing(monkeypatch):
    waiting = {}

    async def place_in_queue(conversation_id):
        return waiting.get(conversation_id)

    monkeypatch.setattr(safety.service, "place_in_queue", place_in_queue)

    def chat(store):
        return texts(deliver("Sam", [], tracker_store=store, acknowledge_waiting=True))

    # A failed action leaves Rasa silent; the person is asked to try again.
    [reply] = chat(PausedTrackerStore("inform", paused=False))
    assert reply.startswith("Sorry, something went wrong on my side. Please try again")
    # A handoff recorded before the action failed: they are told it is waiting, not to retry.
    waiting["conv-1"] = types.SimpleNamespace(position=2)
    [reply] = chat(PausedTrackerStore("inform", paused=False))
    assert "counselor" in reply and "went wrong" not in reply
    # A counselor has the conversation: nothing is said over them.
    waiting["conv-1"] = types.SimpleNamespace(position=None)
    assert chat(PausedTrackerStore("inform")) == []


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


def test_a_crisis_only_the_classifier_heard_still_gets_the_reply_while_paused(raised,
                                                                            responses):
    # "I have the pills in my hand right now": no pattern, but the classifier said crisis.
    messages = deliver("I have them in my hand right now", [],
                       tracker_store=PausedTrackerStore("crisis"))
    assert texts(messages) == [responses["utter_crisis"][0]["text"]]
    assert raised == ["conv-1"]


def test_a_paused_conversation_the_classifier_read_as_ordinary_stays_quiet(raised):
    assert deliver("ok I'll wait", [], tracker_store=PausedTrackerStore("affirm")) == []
    assert raised == []


def test_a_hung_assistant_does_not_hold_back_the_crisis_reply(responses):
    collector = CollectingOutputChannel()
    with pytest.raises(safety.DialogueTimeout):
        deliver("i want to kill myself", [], collector=collector, hang_s=30, budget_s=0.2)
    assert texts(collector.messages) == [responses["utter_crisis"][0]["text"]]


def test_a_crisis_net_that_fails_answers_with_the_crisis_reply(monkeypatch, responses):
    def broken(self, text):
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(safety.CrisisDetector, "detect", broken)
    assert texts(deliver("hello", ["Hi!"]))[-1] == responses["utter_crisis"][0]["text"]


def test_on_a_call_it_is_the_spoken_reply_with_the_offer_to_connect_to_988(responses):
    messages = deliver("I took all my pills", [], collector=NamedCollectingOutputChannel(
        "twilio_voice"))
    voice_variation = next(v for v in responses["utter_crisis"]
                           if v.get("channel") == "twilio_voice" and not v.get("condition"))
    assert texts(messages) == [voice_variation["text"]]
    assert {"voice": "offer_988"} in [m.get("custom") for m in messages]


@pytest.mark.parametrize("command", [
    '/request_human{"ps_phone": "+13125550142"}', "/ /request_human", " / / /request_human",
    "/\u00a0/request_human", "\t/\n/request_human"])
def test_nlu_never_reads_a_rasa_command(command):
    # Rasa strips a message, then treats a leading "/" as an intent it skips NLU for.
    assert not text_for_nlu(command).strip().startswith("/")


def test_nlu_reads_no_more_than_the_limit_and_no_lone_surrogate():
    assert len(text_for_nlu("x" * 10_000)) == MAX_MESSAGE_CHARS
    assert text_for_nlu("\ud800 hi").encode("utf-8")  # encodable, so no step fails on it


@pytest.mark.parametrize("saved", [
    "name: [unclosed".encode(),                                     # not YAML
    "name: Lakeview\u2019s".encode("cp1252"),                      # not UTF-8
    {"hours": "[mon, tue]"},                                        # wrong kind of value
])
def test_an_unreadable_profile_still_lets_the_crisis_reply_out(responses, monkeypatch, tmp_path,
                                                               saved):
    # The center saved a mistake after the servers started; the profile is read on first use.
    from bot.facility import cached_profile

    broken = tmp_path / "profile.yml"
    if isinstance(saved, dict):  # the sample profile with one setting changed
        from bot.settings import BOT_DIR

        sample = (BOT_DIR / "facility_profile.yml").read_text(encoding="utf-8")
        saved = re.sub(r"(?ms)^  hours:\n(    \w+: .*?\n)+", f"  hours: {saved['hours']}\n",
                       sample).encode()
        assert b"hours: [mon, tue]" in saved
    broken.write_bytes(saved)
    monkeypatch.setenv("FACILITY_PROFILE", str(broken))
    cached_profile.cache_clear()
    try:
        replies = texts(deliver("i took all my pills", [], crash=False))
    finally:
        cached_profile.cache_clear()
    assert replies == [responses["utter_crisis"][0]["text"]]


def test_with_the_profile_unreadable_channel_replies_name_the_admissions_line_not_a_placeholder(
        responses, unreadable_profile):
    # Every reply a channel sends itself, on every channel and in each language it has.
    from connectors.replies import channel_reply

    said = {}
    for name in ("utter_channel_error", "utter_waiting_for_counselor", "utter_disclosure",
                 "utter_crisis", "utter_message_too_long"):
        for channel in (None, "website", "twilio", "twilio_voice"):
            for language in ("en", "es"):
                said[name, channel, language] = channel_reply(name, channel, language)["text"]
    assert not [key for key, text in said.items() if "{facility_" in text]
    assert "call the center's admissions line to talk with a person" in said[
        "utter_channel_error", "website", "en"]
    assert "automated assistant for the center" in said["utter_disclosure", "website", "en"]


def test_a_hanging_handoff_never_holds_back_the_crisis_reply_and_still_lands(monkeypatch):
    landed = []

    async def slow_record(submission, notify_existing=False):
        await asyncio.sleep(1.0)  # a database, or a spool on a network volume, that hangs
        landed.append(submission.handoff.priority)

    monkeypatch.setattr(safety.service, "record", slow_record)
    monkeypatch.setattr(safety, "HANDOFF_RAISE_WAIT_S", 0.1)

    async def refused_crisis_then_later():
        # A message refused for its rate still gets the crisis reply, and moves the handoff up.
        replies = await website_access.refusal_replies(
            "web-conv-1", "I took too many pills", True, "utter_rate_limited", "rest")
        landed_when_replied = list(landed)
        await asyncio.sleep(1.5)
        return replies, landed_when_replied

    replies, landed_when_replied = asyncio.run(refused_crisis_then_later())
    assert "911" in replies[0]["text"]
    assert landed_when_replied == []  # the reply did not wait for the handoff
    assert [priority.name for priority in landed] == ["CRISIS"]  # which still landed


def test_a_long_crisis_message_is_read_at_once_while_database_writes_fill_the_shared_pool():
    # A leads database that hangs: every thread of asyncio's shared pool waits on a write.
    import concurrent.futures
    import threading

    database_back = threading.Event()
    long_message = "I have been thinking about a lot of things. " * 60 + "I want to kill myself"
    assert len(long_message) > safety.LONG_MESSAGE_CHARS

    async def scenario():
        loop = asyncio.get_running_loop()
        shared_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
        loop.set_default_executor(shared_pool)
        hung_writes = [loop.run_in_executor(None, database_back.wait) for _ in range(8)]
        try:
            return await asyncio.wait_for(safety.crisis_in_message(long_message), timeout=5)
        finally:
            database_back.set()
            await asyncio.gather(*hung_writes)

    match = asyncio.run(scenario())
    assert match is not None
