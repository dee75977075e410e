"""Replies in the person's language, chosen by Rasa itself from the domain (no action server)."""
import asyncio
import string

import pytest
import yaml
from rasa.core.actions.action import ActionExtractSlots
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import BOT_DIR, PROJECT_ROOT, load_settings

DOMAIN = Domain.load(str(BOT_DIR / "domain"))
NLG = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
ENGLISH_MISUNDERSTANDINGS = ("Sorry, I'm not sure I understood", "No problem. What else")


def _reply(response, language, channel="rest", **values):
    generated = NLG.generate_from_slots(response, {"language": language}, channel)
    return string.Formatter().vformat(generated["text"], (), values), generated.get("custom")


@pytest.mark.parametrize("channel", ["rest", "twilio_sms", "website"])
def test_the_spanish_crisis_reply_gives_911_then_988_in_spanish_and_samhsa(channel):
    text, custom = _reply("utter_crisis", "es", channel)
    assert text.startswith("Su seguridad es lo primero")
    assert text.index("911") < text.index("988")
    assert "oprima 2" in text and "AYUDA" in text and "1-800-662-4357" in text
    assert custom is None


def test_a_spanish_call_hears_the_spanish_crisis_reply_and_is_offered_988():
    text, custom = _reply("utter_crisis", "es", "twilio_voice")
    assert text.startswith("Su seguridad es lo primero") and "911" in text and "988" in text
    assert custom == {"voice": "offer_988"}


@pytest.mark.parametrize("language", [None, "en"])
@pytest.mark.parametrize("channel, custom", [("rest", None), ("twilio_voice",
                                                               {"voice": "offer_988"})])
def test_english_crisis_reply_is_unchanged(language, channel, custom):
    text, sent_custom = _reply("utter_crisis", language, channel)
    assert text.startswith("Your safety comes first") and sent_custom == custom


def test_another_spanish_message_gets_one_short_spanish_line(profile):
    text, _ = _reply("utter_other_language", "es", **profile.reply_slots())
    assert "solo responde en inglés" in text and profile.helpline_phone in text
    assert "'consejero'" in text and "911" in text and "988" in text
    assert not text.startswith(ENGLISH_MISUNDERSTANDINGS)
    voice, _ = _reply("utter_other_language", "es", "twilio_voice")
    assert "oprima 0" in voice and "911" in voice


def _slots_after(intent, entities=(), language=None):
    events = [ActionExecuted("action_listen"), SlotSet("language", language),
              UserUttered("...", intent={"name": intent, "confidence": 1.0},
                          entities=list(entities))]
    tracker = DialogueStateTracker.from_events("test", events, slots=DOMAIN.slots)
    extracted = asyncio.run(
        ActionExtractSlots(None).run(CollectingOutputChannel(), NLG, tracker, DOMAIN))
    return [event.value for event in extracted if isinstance(event, SlotSet)
            and event.key == "language"]


SPANISH = [{"entity": "language", "value": "es", "start": 0, "end": 3}]


@pytest.mark.parametrize("intent, entities, before, after", [
    ("other_language", SPANISH, None, ["es"]),
    ("crisis", SPANISH, "en", ["es"]),
    ("crisis", [], "es", ["en"]),  # an English crisis after Spanish gets the English reply
    ("faq", [], "es", ["en"]),
    ("affirm", [], "es", []),  # "sí" keeps the conversation in Spanish
    ("nlu_fallback", [], "es", []),
])
def test_rasa_sets_the_language_slot_from_the_message(intent, entities, before, after):
    assert _slots_after(intent, entities, before) == after


def test_every_language_has_its_word_list_patterns_slot_value_and_replies():
    languages = {path.stem for path in (BOT_DIR / "language").glob("*.yml")}
    patterns = {path.stem for path in load_settings().crisis_patterns_path.glob("*.yml")}
    slot = next(slot for slot in DOMAIN.slots if slot.name == "language")
    assert languages == patterns == set(slot.values) - {"__other__"}  # Rasa adds __other__
    for language in languages - {"en"}:
        for response in ("utter_crisis", "utter_other_language"):
            variations = [v for v in DOMAIN.responses[response]
                          if v.get("condition") == [{"type": "slot", "name": "language",
                                                     "value": language}]]
            assert {v.get("channel") for v in variations} == {None, "twilio_voice"}, response


def test_the_language_guard_runs_after_the_fallback_and_before_the_crisis_guard():
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    names = [component["name"].rsplit(".", 1)[-1] for component in config["pipeline"]]
    assert names[-3:] == ["NoWordsGuard", "LanguageGuard", "CrisisGuard"]
    assert names.index("FallbackClassifier") < names.index("LanguageGuard")
