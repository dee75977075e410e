"""Which language a message is in, and what the NLU guards do with it (Spanish so far)."""
import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.language.detection import guess_language, language_asking_for_a_person, load_profiles
from bot.nlu.crisis_guard import CrisisGuard
from bot.nlu.language_guard import LanguageGuard
from bot.prescreen import questions as q
from bot.prescreen.questions import AnswerContext, next_move
from bot.settings import BOT_DIR

PROFILES = load_profiles(BOT_DIR / "language")
LANGUAGE_GUARD = LanguageGuard(LanguageGuard.get_default_config())
CRISIS_GUARD = CrisisGuard(CrisisGuard.get_default_config())


@pytest.mark.parametrize("text", [
    "hola", "Holaaa!", "buenas noches", "hola, necesito ayuda para mi hijo",
    "cuánto cuesta el programa", "¿Tienen grupos en la noche?", "muchas gracias",
    "necesito help for mi hijo", "ayuda", "me muero de hambre", "¿hablan español?",
])
def test_clear_spanish_is_recognised(text):
    assert guess_language(text, PROFILES) == "es"


@pytest.mark.parametrize("text", [
    # Short answers the pre-screen reads must stay undecided.
    "sí", "si", "no sé", "ok", "no", "bueno", "Juan", "Maria", "quiero matarme",
])
def test_short_or_unclear_messages_are_left_undecided(text):
    assert guess_language(text, PROFILES) is None


@pytest.mark.parametrize("text", [
    "how much does it cost", "hola, how much does it cost for my son?",
    "my son Jose de la Cruz needs help", "I live in Los Angeles", "I want to kill myself",
])
def test_english_with_a_spanish_word_or_name_stays_english(text):
    assert guess_language(text, PROFILES) == "en"


def test_asking_for_a_person_in_spanish():
    assert language_asking_for_a_person("consejero", PROFILES) == "es"
    assert language_asking_for_a_person("quiero hablar con una persona", PROFILES) == "es"
    assert language_asking_for_a_person("necesito ayuda", PROFILES) is None


def _classified(text, intent="faq", confidence=0.6):
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence})
    message.set("intent_ranking", [{"name": intent, "confidence": confidence}])
    return message


def _through_the_guards(message):
    [message] = CRISIS_GUARD.process(LANGUAGE_GUARD.process([message]))
    return message.get("intent")["name"], [
        entity["value"] for entity in message.get("entities") or []
        if entity["entity"] == "language"]


@pytest.mark.parametrize("text, classified_as", [
    ("hola", "greet"),
    ("hola, necesito ayuda para mi hijo", "out_of_scope"),
    ("¿cuánto cuesta el programa?", "faq"),
    ("gracias", "thank"),
])
def test_a_spanish_message_gets_other_language_and_the_language_entity(text, classified_as):
    assert _through_the_guards(_classified(text, classified_as)) == ("other_language", ["es"])


@pytest.mark.parametrize("text", ["consejero", "quiero hablar con un consejero"])
def test_asking_for_a_counselor_in_spanish_is_a_request_for_a_person(text):
    assert _through_the_guards(_classified(text, "nlu_fallback")) == ("request_human", ["es"])


@pytest.mark.parametrize("text, intent", [
    ("sí", "affirm"), ("no sé", "deny"), ("ok", "affirm"), ("how much does it cost", "faq"),
])
def test_english_and_short_answers_are_left_to_the_classifier(text, intent):
    # No entity for English: the domain's default replies are English, and `rasa test`
    # stories need no annotation.
    assert _through_the_guards(_classified(text, intent)) == (intent, [])


def test_the_classifier_alone_never_decides_another_language():
    assert _through_the_guards(_classified("blorp zint vackle", "other_language")) == (
        "nlu_fallback", [])
    # One Spanish word is enough to back it.
    assert _through_the_guards(_classified("¿aceptan Medicaid?", "other_language")) == (
        "other_language", ["es"])


def test_a_crisis_the_classifier_saw_is_never_turned_into_another_language():
    # No pattern matches this one; the classifier's crisis must stand, answered in Spanish.
    assert _through_the_guards(_classified("hola, estoy muy mal y tengo miedo", "crisis",
                                           0.9)) == ("crisis", ["es"])


def test_no_common_word_is_claimed_by_two_languages():
    # Otherwise a message of such words would count for both, and names such as
    # "Maria de la Cruz" or "Los Angeles" would make an English answer look Spanish.
    english, spanish = (next(p for p in PROFILES if p.code == code) for code in ("en", "es"))
    assert english.markers & spanish.markers == set()
    for name in ("Maria de la Cruz", "El Paso, Texas", "Los Angeles"):
        assert guess_language(name, PROFILES) is None


@pytest.mark.parametrize("text, entities", [
    ("quiero matarme", ["es"]),  # unclear language: the Spanish patterns matched
    ("mi hijo no respira, por favor ayuda", ["es"]),
    ("hola, mi hijo overdosed and isn't breathing", ["es"]),  # clearly Spanish: Spanish reply
    ("I want to kill myself", []),  # English: the default reply
    ("kms", []),
])
def test_a_crisis_in_any_language_is_a_crisis_answered_in_that_language(text, entities):
    assert _through_the_guards(_classified(text, "other_language")) == ("crisis", entities)


def test_a_spanish_message_mid_prescreen_interrupts_unless_it_answers_the_question():
    context = AnswerContext()
    unusable = next_move(q.FOR_WHOM, q.Message("buenas tardes, necesito información",
                                               "other_language"), 0, context)
    assert unusable.kind == "interrupt"
    answer = next_move(q.AGE, q.Message("tengo 45 años", "other_language"), 0, context)
    assert (answer.kind, answer.value) == ("answer", "adult")
