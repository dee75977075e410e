"""Rasa glue for the pre-screen form: asking each question, reading each answer, finishing.

The decisions live in bot/prescreen (plain Python); this module only moves values between
the tracker, those functions, the leads database and the person.
"""
from __future__ import annotations

import abc
import datetime as dt
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile
from bot.actions.handoff import (
    channel_of,
    hand_off,
    record_handoff,
    say_handoff_capped,
    utc_now,
)
from bot.actions.lead_from_tracker import partial_lead_from
from bot.actions.phone_channel import known_phone
from bot.handoff import service
from bot.leads.submission import HandoffPriority, LeadDetails, Submission
from bot.prescreen import questions as q
from bot.prescreen.care_route import EMERGENCY, PRIORITY_FOR_ROUTE
from bot.prescreen.lead import (
    CONSENT_SHOWN_SLOT,
    FAILURES_SLOT,
    OUTCOME_SLOT,
    reachable_by_email_only,
)
from bot.prescreen.validation import speakable_phone
from bot.settings import load_settings

logger = logging.getLogger(__name__)

_RELATION_WORDS = {"parent": "your child", "spouse_or_partner": "your partner",
                   "child": "your parent", "sibling": "your sibling", "friend": "your friend",
                   "relative": "your relative"}


def member_id_wanted() -> bool:
    # Only invite a member ID when it can be encrypted at rest.
    return bool(load_settings().leads_encryption_key)


async def answer_context(tracker: Tracker) -> q.AnswerContext:
    return q.AnswerContext(known_phone=await known_phone(tracker),
                           member_id_wanted=member_id_wanted())


def _for_loved_one(tracker: Tracker) -> bool:
    who = tracker.get_slot(q.FOR_WHOM)
    return isinstance(who, dict) and who.get("for_whom") == "loved_one"


def _relation(tracker: Tracker) -> str:
    who = tracker.get_slot(q.FOR_WHOM)
    relationship = who.get("relationship") if isinstance(who, dict) else None
    return _RELATION_WORDS.get(relationship, "your loved one")


class AskPrescreenQuestion(Action, abc.ABC):
    """Asks one question, in the wording that fits: for you, for a loved one, or a re-ask.

    Abstract until a subclass names its question, so the action server registers only the
    twelve real `action_ask_ps_*` actions.
    """

    has_loved_one_wording = True

    @property
    @abc.abstractmethod
    def question(self) -> str: ...

    def name(self) -> str:
        return f"action_ask_{self.question}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        base = f"utter_{self.question}"
        extra: dict[str, Any] = {"relation": _relation(tracker)}
        if (tracker.get_slot(FAILURES_SLOT) or 0) > 0:
            response = f"{base}_retry"
        else:
            response = await self.first_asking(tracker, base, extra)
        dispatcher.utter_message(response=response, **extra)
        return []

    async def first_asking(self, tracker: Tracker, base: str, extra: dict[str, Any]) -> str:
        if not self.has_loved_one_wording:
            return base
        return f"{base}_loved_one" if _for_loved_one(tracker) else f"{base}_self"


class AskInsurance(AskPrescreenQuestion):
    question = q.INSURANCE

    async def first_asking(self, tracker, base, extra):
        if member_id_wanted() and not _for_loved_one(tracker):
            return f"{base}_member_id"
        return await super().first_asking(tracker, base, extra)


class AskPhone(AskPrescreenQuestion):
    question = q.PHONE
    has_loved_one_wording = False

    async def first_asking(self, tracker, base, extra):
        phone = await known_phone(tracker)
        if phone:
            extra["known_phone"] = speakable_phone(phone)
            return f"{base}_confirm"
        return base


class AskConsent(AskPrescreenQuestion):
    question = q.CONSENT
    has_loved_one_wording = False

    async def run(self, dispatcher, tracker, domain):
        # Someone who left only an email is asked about being contacted by email, not "at that
        # number"; the stored consent names the version of the wording they saw.
        base = "utter_ps_consent"
        if reachable_by_email_only(tracker.current_slot_values()):
            base = "utter_ps_consent_email"
        retry = (tracker.get_slot(FAILURES_SLOT) or 0) > 0
        dispatcher.utter_message(response=f"{base}_retry" if retry else base)
        # The consent is stored with the moment this exact wording was shown.
        return [SlotSet(CONSENT_SHOWN_SLOT, dt.datetime.now(dt.timezone.utc).isoformat())]


def _simple_ask(question: str, loved_one_wording: bool = True) -> type[AskPrescreenQuestion]:
    return type(f"Ask_{question}", (AskPrescreenQuestion,),
                {"question": question, "has_loved_one_wording": loved_one_wording})


AskForWhom = _simple_ask(q.FOR_WHOM, loved_one_wording=False)
AskFirstName = _simple_ask(q.FIRST_NAME)
AskAge = _simple_ask(q.AGE)
AskLocation = _simple_ask(q.LOCATION)
AskSubstances = _simple_ask(q.SUBSTANCES)
AskUsePattern = _simple_ask(q.USE_PATTERN)
AskWithdrawal = _simple_ask(q.WITHDRAWAL)
AskMentalHealth = _simple_ask(q.MENTAL_HEALTH)
AskContactPrefs = _simple_ask(q.CONTACT_PREFS, loved_one_wording=False)


class ValidatePrescreenForm(Action):
    """Reads the answer to the question just asked (see bot/prescreen/questions.py)."""

    def name(self) -> str:
        return "validate_prescreen_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        question = tracker.get_slot("requested_slot")
        if question not in q.QUESTIONS:
            return []
        latest = tracker.latest_message or {}
        intent = latest.get("intent") or {}
        message = q.Message(latest.get("text") or "", intent.get("name"),
                            float(intent.get("confidence") or 0.0))
        failures = int(tracker.get_slot(FAILURES_SLOT) or 0)
        move = q.next_move(question, message, failures, await answer_context(tracker))
        logger.info("pre-screen: question=%s move=%s", question, move.kind)
        if move.kind == "interrupt":
            return []  # rejected: the FAQ rule or the crisis policy answers, then the form resumes
        if move.kind == "reask":
            return [SlotSet(question, None), SlotSet(FAILURES_SLOT, move.failures)]
        events: list[EventType] = [SlotSet(FAILURES_SLOT, 0)]
        if move.value is not None:
            events.append(SlotSet(question, move.value))
            events += [SlotSet(other, value)
                       for other, value in q.settled_by(question, move.value).items()]
        if move.kind == "stop":
            # Ends the form early; action_prescreen_finish reads the outcome.
            events += [SlotSet(OUTCOME_SLOT, move.outcome), SlotSet("requested_slot", None)]
        return events


def _cleared_answers() -> list[EventType]:
    return [SlotSet(question, None) for question in q.QUESTIONS] + [
        SlotSet(FAILURES_SLOT, 0), SlotSet(OUTCOME_SLOT, None), SlotSet(CONSENT_SHOWN_SLOT, None)]


class ActionPrescreenFinish(Action):
    """Whatever ended the form: keep the lead, tell the person what happens next."""

    def name(self) -> str:
        return "action_prescreen_finish"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        outcome = tracker.get_slot(OUTCOME_SLOT) or q.COMPLETED
        logger.info("pre-screen finished: outcome=%s", outcome)
        # A number they typed that is the one they text or call from is verified.
        channel_phone = await known_phone(tracker)
        lead = partial_lead_from(tracker, complete=outcome == q.COMPLETED,
                                 channel_phone=channel_phone)
        if outcome == q.STOPPED:
            if lead is not None:
                await service.record(Submission(tracker.sender_id, channel_of(tracker), lead=lead))
            dispatcher.utter_message(response="utter_ps_stopped", **current_profile().reply_slots())
            # Answers stay in the slots, so "get started" later picks up where they left off.
            return [SlotSet(FAILURES_SLOT, 0), SlotSet(OUTCOME_SLOT, None)]
        if outcome == q.SUICIDAL_NOW:
            dispatcher.utter_message(response="utter_ps_suicidal_now")
            events = await hand_off(dispatcher, tracker, "crisis", HandoffPriority.CRISIS, lead)
            return _cleared_answers() + events
        if outcome in (q.WANTS_COUNSELOR, q.STUCK):
            events = await hand_off(dispatcher, tracker, "request_human",
                                    HandoffPriority.ROUTINE, lead)
            return _cleared_answers() + events
        return _cleared_answers() + await self._completed(dispatcher, tracker, lead)

    async def _completed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         lead: LeadDetails) -> list[EventType]:
        priority = PRIORITY_FOR_ROUTE.get(lead.care_route, HandoffPriority.ROUTINE)
        if not await record_handoff(tracker, "prescreen_complete", priority, lead):
            return say_handoff_capped(dispatcher)  # the lead is kept; no counselor asked again
        profile = current_profile()
        now = utc_now()
        name = lead.first_name or "for sharing all that"
        if lead.care_route == EMERGENCY:
            dispatcher.utter_message(response="utter_ps_suicidal_now")
        elif profile.is_admissions_open(now):
            dispatcher.utter_message(response="utter_ps_done_open", name=name,
                                     **profile.reply_slots())
        else:
            dispatcher.utter_message(response="utter_ps_done_closed", name=name,
                                     callback=profile.callback_phrase(now, lead.best_time),
                                     **profile.reply_slots())
        return [ConversationPaused()]
