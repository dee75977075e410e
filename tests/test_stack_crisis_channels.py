"""Every crisis phrasing, on every channel, as a first message and mid-pre-screen.

The real Rasa and action servers, reached over the website's REST channel, signed Twilio SMS
webhooks and signed voice webhooks. Each phrasing in tests/data/crisis_phrasings*.yml that must
escalate gets the crisis reply (911 and 988; in Spanish for a Spanish message) at once: the
disguised, slang and Spanish ones on every channel, the plain ones on the website. Each
hard-topic phrasing that must not gets an ordinary answer, on every channel.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from scripts.rest_client import WebsiteConversation
from tests.test_stack_twilio import Caller, texter

pytestmark = pytest.mark.stack

DATA = Path(__file__).parent / "data"


def _phrasings(name: str, language: str) -> tuple[list, list, list]:
    """(plain crisis phrasings, adversarial ones by category, hard topics) of one file."""
    data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    adversarial = [text for texts in (data.get("escalate_by_category") or {}).values()
                   for text in texts]
    return ([(text, language) for text in data.get("escalate") or []],
            [(text, language) for text in adversarial],
            [(text, language) for text in data["do_not_escalate"]])


_EN_PLAIN, _EN_ADVERSARIAL, _EN_CALM = _phrasings("crisis_phrasings.yml", "en")
_, _ES_ADVERSARIAL, _ES_CALM = _phrasings("crisis_phrasings_es.yml", "es")
ADVERSARIAL = _EN_ADVERSARIAL + _ES_ADVERSARIAL
ESCALATE = _EN_PLAIN + ADVERSARIAL
CALM = _EN_CALM + _ES_CALM
CHANNELS = ("website", "sms", "voice")
# The disguised, slang and Spanish phrasings go through every channel; the plain ones
# ("I want to kill myself") through the website only, since what differs between channels is
# how text reaches the assistant, and the disguised ones test that hardest.
CASES = [(channel, text, language) for channel in CHANNELS
         for text, language in (ESCALATE if channel == "website" else ADVERSARIAL)]


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
def helpline(shared_stack):
    return shared_stack


_numbers = itertools.count(1000)


class Person:
    """Someone new on one channel: `say(text)` returns what they read or hear back.

    Each has a number of their own (a random one could belong to an earlier test's paused
    conversation).
    """

    def __init__(self, stack, channel: str, greeted: bool = True):
        phone = f"+1312556{next(_numbers):04d}"
        if channel == "website":
            self.say = WebsiteConversation(stack.rasa_url).texts
        elif channel == "sms":
            self.say = texter((stack,), phone)
        else:
            caller = Caller((stack,), phone)
            if greeted:
                caller.post()  # the call is answered with the greeting first
            self.say = lambda text: [say.text or "" for say in caller.say(text).iter("Say")]


def in_prescreen(stack, channel: str) -> Person:
    """Someone who has started the pre-screen and is at its second question (first name)."""
    person = Person(stack, channel)
    person.say("I'm ready to get started")
    assert "first name" in " ".join(person.say("it's for me")).lower()
    return person


# A fresh pre-screen for every this many hard-topic messages: each unusable answer is asked
# again, then skipped, so a handful never carries the form to its end (and to a handoff).
CALM_PER_PRESCREEN = 8
# And for every this many crisis messages: each adds to the conversation Rasa reloads at
# every turn, so one conversation of hundreds would make the module quadratic.
CRISES_PER_PRESCREEN = 20


def _crisis_batches() -> list[tuple[str, list[str]]]:
    batches = []
    for channel in CHANNELS:
        texts = [text for case_channel, text, _ in CASES if case_channel == channel]
        batches += [(channel, texts[start:start + CRISES_PER_PRESCREEN])
                    for start in range(0, len(texts), CRISES_PER_PRESCREEN)]
    return batches


@dataclass
class Heard:
    """What each person read or heard back, by (channel, text)."""

    first: dict = field(default_factory=dict)
    midway: dict = field(default_factory=dict)
    calm_midway: dict = field(default_factory=dict)
    after_crises: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def heard(helpline) -> Heard:
    """Every conversation of this module, held concurrently up front, so that the server's
    throughput rather than one request at a time sets how long the module takes. Within one
    conversation messages still go one after another."""
    heard = Heard()

    def record(into: dict, key: tuple, say: Callable[[str], list[str]], text: str) -> None:
        try:
            into[key] = say(text)
        except Exception as error:  # reported by the test that reads it, not here
            into[key] = [f"request failed: {error!r}"]

    def first_message(channel: str, text: str) -> None:
        # A call's first words straight away: the greeting turn only starts the session, which
        # the first words start as well, and skipping it halves the calls this module makes.
        record(heard.first, (channel, text),
               lambda said: Person(helpline, channel, greeted=False).say(said), text)

    def started(channel: str) -> Person | None:
        try:
            return in_prescreen(helpline, channel)
        except Exception:  # every message meant for this pre-screen then reports the failure
            return None

    def crises_in_one_prescreen(channel: str, texts: list[str]) -> None:
        person = started(channel) or _failed
        for text in texts:
            record(heard.midway, (channel, text), person.say, text)
        record(heard.after_crises, (channel, texts[0]), person.say, "Sam")

    def hard_topics_in_one_prescreen(channel: str, texts: list[str]) -> None:
        person = started(channel) or _failed
        for text in texts:
            record(heard.calm_midway, (channel, text), person.say, text)

    calm_texts = [text for text, _ in CALM]
    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = [pool.submit(crises_in_one_prescreen, channel, texts)
                for channel, texts in _crisis_batches()]
        jobs += [pool.submit(hard_topics_in_one_prescreen, channel,
                             calm_texts[start:start + CALM_PER_PRESCREEN])
                 for channel in CHANNELS for start in range(0, len(calm_texts),
                                                            CALM_PER_PRESCREEN)]
        jobs += [pool.submit(first_message, channel, text) for channel, text, _ in CASES]
        jobs += [pool.submit(first_message, channel, text)
                 for channel in CHANNELS for text, _ in CALM]
        for job in jobs:
            job.result()
    return heard


class _FailedPerson:
    def say(self, text: str) -> list[str]:
        raise RuntimeError("the pre-screen could not be started")


_failed = _FailedPerson()


def _ids(cases):
    return [f"{language}:{text[:40]}" for text, language in cases]


def _case_ids(cases):
    return [f"{channel}-{language}:{text[:40]}" for channel, text, language in cases]


@pytest.mark.parametrize("channel, text, language", CASES, ids=_case_ids(CASES))
def test_a_crisis_as_the_first_message_gets_911_and_988(heard, channel, text, language):
    replies = heard.first[(channel, text)]
    assert is_crisis_reply(replies, language), replies


@pytest.mark.parametrize("channel, text, language", CASES, ids=_case_ids(CASES))
def test_a_crisis_mid_prescreen_gets_911_and_988(heard, channel, text, language):
    replies = heard.midway[(channel, text)]
    # In either language: the person began in English, and a short message after a Spanish
    # one ("kms") keeps the conversation's language.
    assert is_crisis_reply(replies), replies


@pytest.mark.parametrize("channel", CHANNELS)
def test_after_every_crisis_reply_the_prescreen_is_still_where_it_was(heard, channel):
    # Sent after each batch of crisis phrasings: the form waited at the name question.
    for (batch_channel, _), replies in heard.after_crises.items():
        if batch_channel == channel:
            assert "18 or older" in " ".join(replies), replies


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text, language", CALM, ids=_ids(CALM))
def test_a_hard_topic_is_not_answered_as_a_crisis(heard, channel, text, language):
    first, midway = heard.first[(channel, text)], heard.calm_midway[(channel, text)]
    assert first and not is_crisis_reply(first), first
    assert midway and not is_crisis_reply(midway), midway
