"""Every crisis phrasing, on every channel, as a first message and mid-pre-screen.

The real Rasa and action servers, reached over the website's REST channel, signed Twilio SMS
webhooks and signed voice webhooks. Each phrasing in tests/data/crisis_phrasings*.yml that must
escalate gets the crisis reply (911 and 988; in Spanish for a Spanish message) at once, and
each hard-topic phrasing that must not gets an ordinary answer.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from scripts.rest_client import WebsiteConversation
from scripts.twilio_local import FakeTwilioApi, twilio_environment
from tests.stack_helpers import throwaway_stack
from tests.test_stack_twilio import Caller, spoken, texter

pytestmark = pytest.mark.stack

DATA = Path(__file__).parent / "data"


def _phrasings(name: str, language: str) -> tuple[list, list]:
    data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    escalate = list(data.get("escalate") or []) + [
        text for texts in (data.get("escalate_by_category") or {}).values() for text in texts]
    return ([(text, language) for text in escalate],
            [(text, language) for text in data["do_not_escalate"]])


_EN_ESCALATE, _EN_CALM = _phrasings("crisis_phrasings.yml", "en")
_ES_ESCALATE, _ES_CALM = _phrasings("crisis_phrasings_es.yml", "es")
ESCALATE = _EN_ESCALATE + _ES_ESCALATE
CALM = _EN_CALM + _ES_CALM
CHANNELS = ("website", "sms", "voice")


def _crisis_openings() -> dict[str, str]:
    """The first sentence of each crisis reply, by language ("Your safety comes first.")."""
    domain = yaml.safe_load((Path(__file__).parent.parent / "bot" / "domain" / "crisis.yml")
                            .read_text(encoding="utf-8"))
    openings = {}
    for variation in domain["responses"]["utter_crisis"]:
        language = next((c["value"] for c in variation.get("condition") or ()), "en")
        openings[variation["text"].split(".")[0]] = language
    return openings


CRISIS_OPENINGS = _crisis_openings()


def is_crisis_reply(replies: list[str], language: str | None = None) -> bool:
    """The crisis reply, with 911 and 988 (spoken "9 1 1" on a call), in `language` if given.

    Other replies name 911 too (the after-hours handoff, the Spanish "English for now" line),
    so the reply is recognised by its opening, then checked for the numbers.
    """
    said = " ".join(replies).replace(" ", "")
    for reply in replies:
        for opening, reply_language in CRISIS_OPENINGS.items():
            if reply.startswith(opening) and "911" in said and "988" in said:
                return language is None or reply_language == language
    return False


@pytest.fixture(scope="module")
def helpline(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("crisis-channels")
    with FakeTwilioApi() as api:
        with throwaway_stack(workdir, extra_env=twilio_environment(api, workdir / "var")) as stack:
            yield stack


_numbers = itertools.count(1000)


class Person:
    """Someone new on one channel: `say(text)` returns what they read or hear back.

    Each has a number of their own (a random one could belong to an earlier test's paused
    conversation).
    """

    def __init__(self, stack, channel: str):
        phone = f"+1312556{next(_numbers):04d}"
        if channel == "website":
            self.say = WebsiteConversation(stack.rasa_url).texts
        elif channel == "sms":
            self.say = texter((stack,), phone)
        else:
            caller = Caller((stack,), phone)
            caller.post()  # the call is answered with the greeting first
            self.say = lambda text: [spoken(caller.say(text))]


def in_prescreen(stack, channel: str) -> Person:
    """Someone who has started the pre-screen and is at its second question (first name)."""
    person = Person(stack, channel)
    person.say("I'm ready to get started")
    assert "first name" in " ".join(person.say("it's for me")).lower()
    return person


@pytest.fixture(scope="module")
def mid_prescreen(helpline):
    return {channel: in_prescreen(helpline, channel) for channel in CHANNELS}


def _ids(cases):
    return [f"{language}:{text[:40]}" for text, language in cases]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, language", ESCALATE, ids=_ids(ESCALATE))
def test_a_crisis_as_the_first_message_gets_911_and_988(helpline, channel, text, language):
    replies = Person(helpline, channel).say(text)
    assert is_crisis_reply(replies, language), replies


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, language", ESCALATE, ids=_ids(ESCALATE))
def test_a_crisis_mid_prescreen_gets_911_and_988(mid_prescreen, channel, text, language):
    replies = mid_prescreen[channel].say(text)
    # In either language: the person began in English, and a short message after a Spanish
    # one ("kms") keeps the conversation's language.
    assert is_crisis_reply(replies), replies


@pytest.mark.parametrize("channel", CHANNELS)
def test_after_every_crisis_reply_the_prescreen_is_still_where_it_was(mid_prescreen, channel):
    # Runs after the mid-pre-screen crisis phrasings: the form waited at the name question.
    assert "18 or older" in " ".join(mid_prescreen[channel].say("Sam"))


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, language", CALM, ids=_ids(CALM))
def test_a_hard_topic_is_not_answered_as_a_crisis(helpline, channel, text, language):
    first = Person(helpline, channel).say(text)
    assert first and not is_crisis_reply(first), first
    midway = in_prescreen(helpline, channel).say(text)
    assert midway and not is_crisis_reply(midway), midway
