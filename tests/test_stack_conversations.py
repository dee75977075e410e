"""End-to-end: the real Rasa server and action server, spoken to over the REST channel."""
from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from scripts.rest_client import WebsiteConversation
from tests.stack_helpers import API_TOKEN

pytestmark = pytest.mark.stack

PHRASINGS = yaml.safe_load(
    (Path(__file__).parent / "data" / "crisis_phrasings.yml").read_text(encoding="utf-8")
)
PHRASINGS_ES = yaml.safe_load(
    (Path(__file__).parent / "data" / "crisis_phrasings_es.yml").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


@pytest.fixture
def talk(stack):
    """A fresh conversation: each call sends one message and returns the reply texts."""
    return WebsiteConversation(stack.rasa_url).texts


def _is_crisis_reply(replies: list[str]) -> bool:
    return any("988" in reply and "911" in reply and "1-800-662-4357" in reply for reply in replies)


def _is_spanish_crisis_reply(replies: list[str]) -> bool:
    return any("911" in reply and "988" in reply and ("AYUDA" in reply or "oprima 2" in reply)
               and reply.startswith("Su seguridad es lo primero") for reply in replies)


ENGLISH_MISUNDERSTANDINGS = ("Sorry, I'm not sure I understood", "No problem. What else")


def test_first_reply_says_it_is_automated_and_how_to_reach_a_person(talk, filled):
    replies = talk("hi")
    assert replies[0] == filled("utter_disclosure")
    assert replies[1] == filled("utter_greet")


@pytest.mark.parametrize("question", ["am i chatting with a bot right now?", "are you a bot",
                                      "who are you", "are you married lol"])
def test_asked_whether_it_is_a_person_it_says_it_is_automated(talk, filled, question):
    # Personal questions too: "are you married" deserves the honest answer, not "I didn't
    # understand".
    replies = talk(question)
    assert replies[-1] == filled("utter_about_bot")
    assert "not a person" in replies[-1]


@pytest.mark.parametrize(
    "question, topic",
    [
        ("what is an intensive outpatient program?", "what_is_iop"),
        ("what do you actually do in the groups", "what_happens"),
        ("how many weeks does the program last", "duration"),
        ("do you have evening groups? i work days", "schedule"),
        ("how much does it cost", "cost"),
        ("do you take insurance", "insurance"),
        ("does my husband need detox before starting", "detox"),
        ("is iop right for my son", "eligibility"),
        ("what's the difference between php and iop", "levels_of_care"),
        ("how can I help my wife, she won't admit she has a problem", "family"),
        ("I have depression and I drink, can you treat both?", "co_occurring"),
        ("can I do it online from home", "telehealth"),
        ("will my employer find out", "confidentiality"),
        ("can you prescribe medication for cravings", "medication"),
        ("what happens when I finish the program", "aftercare"),
        ("does iop actually work", "effectiveness"),
        ("where are you located", "location_hours"),
        ("do I have to go to AA meetings", "support_groups"),
    ],
)
def test_faq_question_gets_that_topics_answer_filled_from_the_profile(talk, filled, question,
                                                                      topic):
    replies = talk(question)
    assert replies[-1] == filled(f"utter_faq/{topic}")
    assert "{" not in replies[-1]


@pytest.mark.parametrize(
    "question, topic",
    [
        ("do they test you for drugs while you're in the program", "drug_testing"),
        ("what happens if i use again while i'm in treatment", "relapse_in_program"),
        ("my daughter is 15, is she old enough for your program", "age_range"),
        ("are you closed on thanksgiving", "holidays"),
        ("can you help me get a ride to group", "getting_here"),
        ("i'm on suboxone, can i still join", "on_medication"),
        ("do you treat people addicted to cocaine", "substances"),
        ("my husband has a gambling problem, do you treat that", "other_addictions"),
        ("can i pay a little each month", "payment_plans"),
        ("is your center accredited", "accreditation"),
    ],
)
def test_a_long_tail_question_gets_its_topics_answer_filled_from_the_profile(
        talk, filled, profile, question, topic):
    reply = talk(question)[-1]
    assert reply == filled(f"utter_faq/{topic}", **profile.detail_values())
    assert "{" not in reply


@pytest.mark.parametrize(
    "question, response, insurer",
    [
        ("does tricare work for this", "utter_insurance_not_listed", "Tricare"),
        ("do u take bcbs", "utter_insurance_listed", "Blue Cross Blue Shield"),
        ("i have humana through my job, is that ok", "utter_insurance_not_listed", "Humana"),
    ],
)
def test_a_named_insurance_plan_is_told_plainly_whether_it_is_on_the_list(
        talk, filled, question, response, insurer):
    assert talk(question)[-1] == filled(response, insurer=insurer)


def test_a_topic_the_profile_leaves_empty_gets_an_honest_i_dont_have_that_detail(talk, filled):
    reply = talk("can i bring my emotional support dog to group")[-1]
    assert reply == filled("utter_faq_no_detail", topic_label="service animals")


@pytest.mark.parametrize("question", ["do you offer reiki sessions",
                                      "is there a swimming pool at the center"])
def test_a_question_no_topic_covers_gets_i_dont_know_and_a_person(talk, filled, question):
    assert talk(question)[-1] == filled("utter_question_not_covered")


def test_a_centers_own_question_is_answered_from_its_faq_file(talk):
    from bot.facility_faq import load_facility_faq

    (question,) = load_facility_faq()
    assert talk("will i get a certificate of completion at the end")[-1] == question.answer


def test_a_long_tail_question_mid_prescreen_is_answered_then_the_prescreen_resumes(
        talk, filled):
    assert "for you, or for someone" in talk("I'm ready to get started")[-1]
    replies = talk("wait, is there a place to smoke on breaks?")
    assert replies[0] == filled("utter_faq_no_detail", topic_label="smoking and vaping")
    assert "for you, or for someone" in replies[-1]


# Every letter that has a Cyrillic look-alike swapped for it, as a "fancy text" keyboard or a
# filter-dodging paste sends it. With Rasa's plain tokenizer each of these was out of scope.
_CYRILLIC_LOOK_ALIKES = str.maketrans({"a": "\u0430", "c": "\u0441", "e": "\u0435", "h": "\u04bb",
                                       "i": "\u0456", "o": "\u043e", "p": "\u0440", "s": "\u0455",
                                       "y": "\u0443"})


@pytest.mark.parametrize(
    "question, topic",
    [
        *[(question.translate(_CYRILLIC_LOOK_ALIKES), topic) for question, topic in [
            ("how much does it cost", "cost"),
            ("do you take insurance", "insurance"),
            ("what is iop", "what_is_iop"),
            ("can i stay on suboxone", "on_medication"),
            ("will my employer find out", "confidentiality"),
        ]],
        # Small capitals.
        ("\u1d21\u029c\u1d07\u0280\u1d07 \u1d00\u0280\u1d07 \u028f\u1d0f\u1d1c "
         "\u029f\u1d0f\u1d04\u1d00\u1d1b\u1d07\u1d05", "location_hours"),
    ],
)
def test_look_alike_letters_get_the_same_answer_as_plain_ones(talk, filled, profile, question,
                                                              topic):
    assert talk(question)[-1] == filled(f"utter_faq/{topic}", **profile.detail_values())


# Every crisis and hard-topic phrasing, first message and mid-pre-screen, on the website, by
# SMS and on a call: tests/test_stack_crisis_channels.py. Here, crises in the middle of an
# ordinary conversation (after an answer and half-way up the fallback ladder).
@pytest.mark.parametrize("message", PHRASINGS["escalate"][::6])
def test_crisis_mid_conversation_gets_911_and_988(talk, message):
    talk("how much does it cost")
    talk("asdf qwerty")  # half-way up the fallback ladder
    assert _is_crisis_reply(talk(message))
    # ...and the conversation carries on normally afterwards.
    assert not _is_crisis_reply(talk("do you take aetna"))


@pytest.mark.parametrize("message", ["hola", "necesito ayuda para mi hijo",
                                     "¿cuánto cuesta el programa?", "buenas noches"])
def test_a_spanish_message_gets_the_spanish_line_not_the_english_fallback(talk, profile, message):
    replies = talk(message)
    assert "solo responde en inglés" in replies[-1] and profile.helpline_phone in replies[-1]
    assert not any(reply.startswith(ENGLISH_MISUNDERSTANDINGS) for reply in replies)


@pytest.mark.parametrize("message", PHRASINGS_ES["do_not_escalate"][::4])
def test_spanish_hard_topics_get_the_spanish_line_not_a_crisis_reply(talk, message):
    replies = talk(message)
    assert not _is_spanish_crisis_reply(replies) and not _is_crisis_reply(replies)
    assert not any(reply.startswith(ENGLISH_MISUNDERSTANDINGS) for reply in replies)


def test_after_spanish_an_english_crisis_is_answered_in_english(talk):
    talk("hola, necesito información")
    replies = talk("I want to kill myself")
    assert _is_crisis_reply(replies) and not _is_spanish_crisis_reply(replies)


def test_in_the_middle_of_the_prescreen_spanish_gets_its_line_then_a_spanish_crisis_its_reply(
        talk):
    assert "Is this for you, or for someone you care about" in talk("I'm ready to get started")[-1]
    replies = talk("buenas tardes, es para mi hijo")
    assert "solo responde en inglés" in replies[0]
    assert "for you, or for someone" in replies[-1]  # the pre-screen asks again
    assert _is_spanish_crisis_reply(talk("mi hijo no respira"))


@pytest.mark.parametrize(
    "message",
    [
        "",
        "     ",
        "\U0001F62D\U0001F62D\U0001F62D",
        "I need help for my son " * 220,  # about 5,000 characters
        "x" * 5000,
        "hola, necesito ayuda para mi hijo",
        "<script>alert('hi')</script><img src=x onerror=alert(1)>",
        "'; DROP TABLE conversations; --",
        "\u0000\u202e\ufeff",
    ],
)
def test_bad_input_gets_a_polite_reply(talk, message):
    replies = talk(message)
    assert replies[0].startswith("Hi, I'm the automated assistant")
    assert len(replies) >= 2 and all(reply.strip() for reply in replies)
    assert not _is_crisis_reply(replies)


def test_empty_message_is_told_no_words_arrived(talk, filled):
    assert talk("")[-1] == filled("utter_empty_message")


HANDOFF_OPENINGS = ("I've asked an admissions counselor", "Admissions is closed right now")


def test_fallback_ladder_clarifies_then_hands_over_to_a_person(talk, filled):
    talk("hi")
    first = talk("blorp zint vackle")
    assert first[-1].startswith("Sorry, I'm not sure I understood")
    second = talk("what's the capital of france")
    assert second[-2] == filled("utter_offer_counselor_after_misses")
    assert second[-1].startswith(HANDOFF_OPENINGS)
    # Paused for the counselor: the assistant no longer answers, and says so.
    assert talk("hello?") == [filled("utter_waiting_for_counselor")]


def test_fallback_ladder_starts_again_once_understood(talk, filled):
    assert talk("blorp zint vackle")[-1].startswith("Sorry, I'm not sure I understood")
    assert talk("how much does it cost")[-1] == filled("utter_faq/cost")
    assert talk("tell me a joke")[-1].startswith("Sorry, I'm not sure I understood")


def test_asking_for_a_person_says_what_happens_next(talk, profile):
    reply = talk("can I talk to a real person")[-1]
    assert profile.helpline_phone in reply
    assert reply.startswith(HANDOFF_OPENINGS)


def test_waiting_for_a_counselor_a_message_is_acknowledged_not_met_with_silence(talk, filled):
    talk("can I talk to a real person")
    assert talk("hello?") == [filled("utter_waiting_for_counselor")]
    # A crisis while waiting still gets the crisis reply, not the waiting line alone.
    assert _is_crisis_reply(talk("i want to kill myself"))


def test_once_a_counselor_has_taken_the_conversation_the_waiting_line_stops(stack):
    from sqlalchemy import create_engine

    from bot.leads.store import LeadStore

    person = WebsiteConversation(stack.rasa_url)
    person.texts("can I talk to a real person")
    store = LeadStore(create_engine(stack.settings.database_url, future=True))
    (handoff,) = [queued for queued in store.waiting_queue("test")
                  if queued.conversation_id == person.conversation_id]
    store.claim(handoff.handoff_id, "maria")
    # The counselor answers now: no automated line talks over them after each message.
    assert person.texts("hello? is someone there") == []
    assert _is_crisis_reply(person.texts("i want to kill myself"))


def test_saying_yes_after_an_answer_accepts_the_counselor_offer(talk, profile):
    talk("do you take medicaid")
    reply = talk("yes please")[-1]
    assert profile.helpline_phone in reply and reply.startswith(HANDOFF_OPENINGS)


def test_http_api_requires_the_token_but_the_rest_channel_does_not(stack, talk):
    talk("hi")
    url = f"{stack.rasa_url}/conversations/anyone/tracker"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{url}?token={API_TOKEN}", timeout=10) as allowed:
        assert allowed.status == 200


def test_malformed_webhook_body_gets_a_client_error_not_a_crash(stack):
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/rest/webhook", data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as rejected:
        urllib.request.urlopen(request, timeout=10)
    assert 400 <= rejected.value.code < 500


def test_message_text_never_reaches_the_logs(stack, talk):
    secret_name, secret_phone = "Zebediah Quuxworth", "312-555-0199"
    talk(f"hi my name is {secret_name}, call me at {secret_phone} about the cost")
    talk("I want to kill myself")  # the crisis path logs too: only the category
    log = stack.log_path.read_text(encoding="utf-8", errors="replace")
    assert "crisis safety net matched" in log  # the log is really being written
    for secret in (secret_name, secret_phone, "kill myself"):
        assert secret not in log
