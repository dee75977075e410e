"""The pre-screen answers in a conversation's slots, turned into a lead for the database."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker

from bot.leads.submission import ConsentGiven, LeadDetails
from bot.prescreen import questions as q
from bot.prescreen.answers import PrescreenAnswers
from bot.prescreen.care_route import care_route_for

# The version of the exact wording in `utter_ps_consent`; bump it whenever that text changes.
CONSENT_WORDING_VERSION = "ps-consent-2026-11-23"
# Fingerprint of that wording (first 16 hex digits of its SHA-256): a test fails when the text
# changes but the version above does not.
CONSENT_WORDING_SHA256 = "1266abc755802919"
FAILURES_SLOT = "ps_failures"
OUTCOME_SLOT = "ps_outcome"
CONSENT_SHOWN_SLOT = "ps_consent_shown_at"


def _answer(tracker: Tracker, question: str) -> Any:
    value = tracker.get_slot(question)
    return None if value == q.SKIPPED else value


def _part(tracker: Tracker, question: str, key: str) -> Any:
    value = _answer(tracker, question)
    return value.get(key) if isinstance(value, dict) else None


def answers_from(tracker: Tracker) -> PrescreenAnswers:
    suicidal = _part(tracker, q.MENTAL_HEALTH, "suicidal")
    if tracker.get_slot(OUTCOME_SLOT) == q.SUICIDAL_NOW:
        suicidal = "now"
    return PrescreenAnswers(
        for_whom=_part(tracker, q.FOR_WHOM, "for_whom"),
        relationship=_part(tracker, q.FOR_WHOM, "relationship"),
        age_group=_answer(tracker, q.AGE),
        state=_part(tracker, q.LOCATION, "state"),
        substances=tuple(_answer(tracker, q.SUBSTANCES) or ()),
        uses_daily=_part(tracker, q.USE_PATTERN, "daily"),
        used_last_24h=_part(tracker, q.USE_PATTERN, "last_24h"),
        withdrawal_symptoms_now=_part(tracker, q.WITHDRAWAL, "symptoms_now"),
        past_withdrawal_seizure_or_dts=_part(tracker, q.WITHDRAWAL, "seizure_or_dts"),
        co_occurring_conditions=_part(tracker, q.MENTAL_HEALTH, "co_occurring"),
        suicidal_thoughts_30_days=suicidal,
        unsafe_home=_part(tracker, q.MENTAL_HEALTH, "unsafe_home"),
        relapsed_after_outpatient=_part(tracker, q.MENTAL_HEALTH, "relapsed_after_outpatient"),
        on_medication_treatment=_part(tracker, q.MENTAL_HEALTH, "on_moud"),
    )


def partial_lead_from(tracker: Tracker, complete: bool = False) -> LeadDetails | None:
    """The lead as far as the person got; None when they answered nothing (nothing to keep)."""
    answered = {question: tracker.get_slot(question) for question in q.QUESTIONS
                if tracker.get_slot(question) is not None}
    if not answered:
        return None
    answers = answers_from(tracker)
    care = care_route_for(answers)
    consents = ()
    consent = _answer(tracker, q.CONSENT)
    if isinstance(consent, dict):
        shown_at = tracker.get_slot(CONSENT_SHOWN_SLOT) or dt.datetime.now(
            dt.timezone.utc).isoformat()
        consents = tuple(ConsentGiven(kind, bool(consent.get(kind)), CONSENT_WORDING_VERSION,
                                      shown_at) for kind in ("contact", "privacy"))
    # Member IDs travel only inside the submission, to be encrypted by the store.
    return LeadDetails(
        status="complete" if complete else "incomplete",
        for_whom=answers.for_whom, relationship=answers.relationship,
        first_name=_answer(tracker, q.FIRST_NAME), phone_e164=_part(tracker, q.PHONE, "phone"),
        email=_part(tracker, q.PHONE, "email"), state=answers.state,
        zip_code=_part(tracker, q.LOCATION, "zip"), age_group=answers.age_group,
        insurance_carrier=_part(tracker, q.INSURANCE, "carrier"),
        member_id=_part(tracker, q.INSURANCE, "member_id"),
        best_time=_part(tracker, q.CONTACT_PREFS, "best_time"),
        voicemail_ok=_part(tracker, q.CONTACT_PREFS, "voicemail_ok"),
        text_ok=_part(tracker, q.CONTACT_PREFS, "text_ok"),
        discreet=_part(tracker, q.CONTACT_PREFS, "discreet"),
        care_route=care.route, care_reasons=care.reasons,
        answers={k: v for k, v in answered.items() if k != q.INSURANCE}
        | {q.INSURANCE: _part(tracker, q.INSURANCE, "carrier")},
        consents=consents,
    )
