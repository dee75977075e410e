"""The pre-screen answers in a conversation's slot values, turned into a lead for the database.

Works on a plain dict of slot values, so the action server (rasa_sdk's tracker) and the Rasa
server's voice connector (Rasa's own tracker) build the same lead without importing each
other: both pass `tracker.current_slot_values()`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from bot.leads.submission import ConsentGiven, LeadDetails
from bot.prescreen import questions as q
from bot.prescreen.answers import PrescreenAnswers
from bot.prescreen.care_route import care_route_for

# The version of the exact wording in `utter_ps_consent`; bump it whenever that text changes.
CONSENT_WORDING_VERSION = "ps-consent-2026-11-23"
# Fingerprint of that wording (first 16 hex digits of its SHA-256): a test fails when the text
# changes but the version above does not.
CONSENT_WORDING_SHA256 = "1266abc755802919"
# The same notice for someone who gave an email and no phone (`utter_ps_consent_email`).
EMAIL_CONSENT_WORDING_VERSION = "ps-consent-email-2026-12-01"
EMAIL_CONSENT_WORDING_SHA256 = "6b5dbcdeaccbf31a"
FAILURES_SLOT = "ps_failures"
OUTCOME_SLOT = "ps_outcome"
CONSENT_SHOWN_SLOT = "ps_consent_shown_at"

Slots = Mapping[str, Any]


def _answer(slots: Slots, question: str) -> Any:
    value = slots.get(question)
    return None if value == q.SKIPPED else value


def _part(slots: Slots, question: str, key: str) -> Any:
    value = _answer(slots, question)
    return value.get(key) if isinstance(value, dict) else None


def reachable_by_email_only(slots: Slots) -> bool:
    """True when the answer to the phone question was an email and no number."""
    return q.reached_by_email_only(slots.get(q.PHONE))


def consent_wording_version(slots: Slots) -> str:
    """Which consent wording the person was shown (bot/actions/prescreen.py AskConsent)."""
    if reachable_by_email_only(slots):
        return EMAIL_CONSENT_WORDING_VERSION
    return CONSENT_WORDING_VERSION


def answers_from_slots(slots: Slots) -> PrescreenAnswers:
    suicidal = _part(slots, q.MENTAL_HEALTH, "suicidal")
    if slots.get(OUTCOME_SLOT) == q.SUICIDAL_NOW:
        suicidal = "now"
    return PrescreenAnswers(
        for_whom=_part(slots, q.FOR_WHOM, "for_whom"),
        relationship=_part(slots, q.FOR_WHOM, "relationship"),
        age_group=_answer(slots, q.AGE),
        state=_part(slots, q.LOCATION, "state"),
        substances=tuple(_answer(slots, q.SUBSTANCES) or ()),
        uses_daily=_part(slots, q.USE_PATTERN, "daily"),
        used_last_24h=_part(slots, q.USE_PATTERN, "last_24h"),
        withdrawal_symptoms_now=_part(slots, q.WITHDRAWAL, "symptoms_now"),
        past_withdrawal_seizure_or_dts=_part(slots, q.WITHDRAWAL, "seizure_or_dts"),
        co_occurring_conditions=_part(slots, q.MENTAL_HEALTH, "co_occurring"),
        suicidal_thoughts_30_days=suicidal,
        unsafe_home=_part(slots, q.MENTAL_HEALTH, "unsafe_home"),
        relapsed_after_outpatient=_part(slots, q.MENTAL_HEALTH, "relapsed_after_outpatient"),
        on_medication_treatment=_part(slots, q.MENTAL_HEALTH, "on_moud"),
    )


def lead_from_slots(slots: Slots, complete: bool = False,
                    channel_phone: str | None = None) -> LeadDetails | None:
    """The lead as far as the person got; None when they answered nothing (nothing to keep).

    `channel_phone` is the number the person texts or calls from (None on the website): a
    phone answer equal to it is marked verified.
    """
    answered = {question: slots.get(question) for question in q.QUESTIONS
                if slots.get(question) is not None}
    if not answered:
        return None
    answers = answers_from_slots(slots)
    care = care_route_for(answers)
    consents = ()
    consent = _answer(slots, q.CONSENT)
    if isinstance(consent, dict):
        shown_at = slots.get(CONSENT_SHOWN_SLOT) or dt.datetime.now(dt.timezone.utc).isoformat()
        version = consent_wording_version(slots)
        consents = tuple(ConsentGiven(kind, bool(consent.get(kind)), version, shown_at)
                         for kind in ("contact", "privacy"))
    phone = _part(slots, q.PHONE, "phone")
    # Member IDs travel only inside the submission, to be sealed (encrypted) by the recorder.
    return LeadDetails(
        status="complete" if complete else "incomplete",
        for_whom=answers.for_whom, relationship=answers.relationship,
        first_name=_answer(slots, q.FIRST_NAME), phone_e164=phone,
        phone_verified=phone is not None and phone == channel_phone,
        email=_part(slots, q.PHONE, "email"), state=answers.state,
        zip_code=_part(slots, q.LOCATION, "zip"), age_group=answers.age_group,
        insurance_carrier=_part(slots, q.INSURANCE, "carrier"),
        member_id=_part(slots, q.INSURANCE, "member_id"),
        best_time=_part(slots, q.CONTACT_PREFS, "best_time"),
        voicemail_ok=_part(slots, q.CONTACT_PREFS, "voicemail_ok"),
        text_ok=_part(slots, q.CONTACT_PREFS, "text_ok"),
        discreet=_part(slots, q.CONTACT_PREFS, "discreet"),
        care_route=care.route, care_reasons=care.reasons,
        answers={k: v for k, v in answered.items() if k != q.INSURANCE}
        | {q.INSURANCE: _part(slots, q.INSURANCE, "carrier")},
        consents=consents,
    )


def with_channel_phone(lead: LeadDetails | None, channel_phone: str | None) -> LeadDetails | None:
    """The lead, carrying the number they text or call from when they gave no other.

    Someone who asks for a person on the phone line must be reachable even if they never
    started the pre-screen: this is their callback request. That number is verified (the
    channel saw it), so it joins this conversation's lead to their other ones.
    """
    if channel_phone is None:
        return lead
    if lead is None:
        return LeadDetails(status="incomplete", phone_e164=channel_phone, phone_verified=True)
    if lead.phone_e164 is None or lead.phone_e164 == channel_phone:
        return dataclasses.replace(lead, phone_e164=channel_phone, phone_verified=True)
    return lead
