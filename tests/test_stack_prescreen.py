"""End-to-end pre-screen: the real Rasa and action servers over REST, and the lead they write."""
from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.leads.database import make_engine
from bot.leads.schema import Consent, Handoff, Lead
from scripts.rest_client import WebsiteConversation

pytestmark = pytest.mark.stack

# (answer, a phrase the NEXT question must contain): a parent asking for a son.
PARENT_FOR_SON = [
    ("it's for my son", "first name"),
    ("I'm Maria", "How old is your child"),
    ("he's 24", "state does your child live in"),
    ("Illinois 62701", "What is your child using"),
    ("mostly booze and some xanax", "how often"),
    ("1", "withdrawal"),
    ("2", "suicidal thoughts"),
    ("1", "insurance"),
    ("he has BCBS", "phone number"),
    ("312-555-0142", "good time"),
    ("evenings, texts are ok", "42 CFR Part 2"),
]


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


@pytest.fixture(scope="module")
def leads(stack):
    engine = make_engine(stack.settings.database_url)
    yield engine
    engine.dispose()


HANDOFF_OPENINGS = ("I've asked an admissions counselor", "Admissions is closed right now")


def new_talk(stack):
    """A new visitor: their conversation (its id is issued by the first reply) and a way to
    send one message and read the reply texts."""
    conversation = WebsiteConversation(stack.rasa_url)
    return conversation, conversation.texts


def start(talk) -> list[str]:
    replies = talk("I'm ready to get started")
    assert "Is this for you, or for someone you care about" in replies[-1]
    return replies


def lead_for(engine, conversation: WebsiteConversation) -> Lead | None:
    with Session(engine, future=True) as session:
        return session.execute(select(Lead).where(
            Lead.conversation_id == conversation.conversation_id)).scalar_one_or_none()


def test_a_parent_finishes_the_prescreen_and_a_counselor_gets_a_complete_lead(stack, leads, filled):
    sender, talk = new_talk(stack)
    start(talk)
    for answer, next_question in PARENT_FOR_SON:
        reply = talk(answer)[-1]
        assert next_question in reply, (answer, reply)
    done = talk("yes, I agree")
    assert done[-1].startswith("Thank you, Maria.")
    assert "level of care" in done[-1] and "detox" not in done[-1].lower()  # no label given

    lead = lead_for(leads, sender)
    assert (lead.status, lead.for_whom, lead.relationship, lead.first_name) == (
        "complete", "loved_one", "parent", "Maria")
    assert (lead.phone_e164, lead.state, lead.zip_code, lead.age_group) == (
        "+13125550142", "IL", "62701", "adult")
    assert (lead.insurance_carrier, lead.best_time, lead.text_ok) == (
        "Blue Cross Blue Shield", "evenings", True)
    # Daily alcohol and benzodiazepines with withdrawal signs now.
    assert lead.care_route == "detox_first"
    with Session(leads, future=True) as session:
        consents = session.execute(
            select(Consent).where(Consent.lead_id == lead.id)).scalars().all()
        assert {(c.kind, c.granted, c.channel) for c in consents} == {
            ("contact", True, "rest"), ("privacy", True, "rest")}
        handoff = session.execute(select(Handoff).where(Handoff.lead_id == lead.id)).scalar_one()
        assert (handoff.status, handoff.priority, handoff.reason) == (
            "waiting", 1, "prescreen_complete")

    # Paused for the counselor: the assistant no longer answers and says so; the message stays
    # in the transcript.
    assert talk("hello? anyone?") == [filled("utter_waiting_for_counselor")]


def test_the_action_server_reads_substances_without_loading_tensorflow(stack):
    # TensorFlow is 500 MB per action server (bot/actions/server.py keeps it out); the
    # EntityRuler must still find "booze" and "xanax" without it.
    _, talk = new_talk(stack)
    start(talk)
    for answer, next_question in PARENT_FOR_SON[:5]:
        assert next_question in talk(answer)[-1], answer
    actions = stack.processes[0]
    assert actions.args[-1] == "bot.actions.server"
    mapped = Path(f"/proc/{actions.pid}/maps").read_text()
    assert "libtensorflow" not in mapped and "_pywrap_tensorflow" not in mapped


@pytest.mark.parametrize("question, answer", [
    ("how much does it cost?", "utter_faq/cost"),
    # Asked whether it is a person, it says it is automated before asking again.
    ("wait, am i talking to a real person?", "utter_about_bot"),
])
def test_a_question_mid_prescreen_is_answered_then_the_same_question_comes_back(
        stack, filled, question, answer):
    _, talk = new_talk(stack)
    start(talk)
    talk("for me")
    replies = talk(question)
    assert replies[0] == filled(answer)
    assert "first name" in replies[-1]
    assert "18 or older" in talk("Sam")[-1]


def test_stop_leaves_politely_and_keeps_the_partial_lead(stack, leads):
    sender, talk = new_talk(stack)
    start(talk)
    talk("myself")
    talk("Sam")
    reply = talk("stop")[-1]
    assert reply.startswith("No problem, we can stop here.")
    lead = lead_for(leads, sender)
    assert (lead.status, lead.first_name) == ("incomplete", "Sam")
    # Not paused: the assistant keeps answering questions.
    assert talk("what is iop")[-1].startswith("An intensive outpatient program")


def test_an_unusable_phone_gets_a_specific_reask_then_a_counselor(stack, leads):
    sender, talk = new_talk(stack)
    start(talk)
    for answer in ("me", "Sam", "35", "texas", "weed", "4", "1", "1", "none"):
        talk(answer)
    assert talk("555")[-1] == "I need a 10-digit US phone number, like 312-555-0142."
    handed = talk("123")[-1]
    assert handed.startswith(HANDOFF_OPENINGS)
    with Session(leads, future=True) as session:
        handoff = session.execute(select(Handoff).where(
            Handoff.conversation_id == sender.conversation_id)).scalar_one()
        assert handoff.reason == "request_human"


def test_talk_to_a_person_mid_prescreen_hands_off(stack, leads):
    sender, talk = new_talk(stack)
    start(talk)
    talk("for my daughter")
    reply = talk("can I just talk to a real person")[-1]
    assert reply.startswith(HANDOFF_OPENINGS)
    assert lead_for(leads, sender).relationship == "parent"


def test_crisis_mid_prescreen_gets_911_988_and_the_prescreen_waits(stack):
    _, talk = new_talk(stack)
    start(talk)
    talk("for me")
    replies = talk("I took a whole bottle of pills")
    assert any("988" in r and "911" in r for r in replies)
    # The pre-screen waited at its question: the next answer is taken as the first name.
    assert "18 or older" in talk("Sam")[-1]


def test_suicidal_thoughts_right_now_in_the_prescreen_go_to_the_crisis_path(stack, leads):
    sender, talk = new_talk(stack)
    start(talk)
    for answer in ("me", "Sam", "35", "texas", "weed", "4", "1"):
        talk(answer)
    replies = talk("4")
    assert any("988" in r for r in replies)
    with Session(leads, future=True) as session:
        handoff = session.execute(select(Handoff).where(
            Handoff.conversation_id == sender.conversation_id)).scalar_one()
        assert (handoff.priority, handoff.reason) == (0, "crisis")


def test_twenty_simultaneous_prescreens_make_twenty_correct_leads(stack, leads):
    def one_person(n: int) -> str:
        sender, talk = new_talk(stack)
        start(talk)
        answers = ["me", f"Person{chr(65 + n)}", "30", "ohio", "alcohol", "4", "1", "1",
                   "aetna", f"312-555-{n:04d}", "mornings", "yes"]
        for answer in answers:
            talk(answer)
        return sender

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        senders = list(pool.map(one_person, range(20)))
    for n, sender in enumerate(senders):
        lead = lead_for(leads, sender)
        assert lead is not None and lead.status == "complete"
        assert (lead.first_name, lead.phone_e164) == (f"Person{chr(65 + n)}", f"+1312555{n:04d}")


def test_while_paused_for_a_counselor_a_crisis_still_gets_911_988_at_once(stack, leads,
                                                                          filled):
    sender, talk = new_talk(stack)
    handed = talk("I want to talk to a real person")[-1]
    assert handed.startswith(HANDOFF_OPENINGS)
    # Paused: the counselor answers, not the assistant, which says so.
    assert talk("ok thanks") == [filled("utter_waiting_for_counselor")]
    replies = talk("I took all my pills and I want to die")
    assert len(replies) == 1 and "988" in replies[0] and "911" in replies[0]
    with Session(leads, future=True) as session:
        handoff = session.execute(select(Handoff).where(
            Handoff.conversation_id == sender.conversation_id)).scalar_one()
        assert handoff.priority == 0  # moved to the top of the queue


def test_resuming_gives_the_conversation_back_to_the_assistant(stack, filled):
    from bot.handoff.resume import NotPaused, resume_conversation
    from tests.stack_helpers import API_TOKEN

    sender, talk = new_talk(stack)
    talk("can I talk to someone")
    assert talk("what is iop") == [filled("utter_waiting_for_counselor")]
    resume_conversation(sender.conversation_id, stack.rasa_url, API_TOKEN)
    assert talk("what is iop")[-1].startswith("An intensive outpatient program")
    # An id nobody paused (a typo, another conversation) is refused, not "resumed".
    with pytest.raises(NotPaused):
        resume_conversation(sender.conversation_id, stack.rasa_url, API_TOKEN)
    with pytest.raises(NotPaused):
        resume_conversation("web-made-up.0000", stack.rasa_url, API_TOKEN)
