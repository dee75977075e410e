"""Suggests a level of care for the admissions counselor: a starting point, never a diagnosis.

The person is never told the route; only staff see it, with reasons they can check.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.leads.submission import HandoffPriority
from bot.prescreen.answers import OPIOIDS, WITHDRAWAL_DANGEROUS, PrescreenAnswers

EMERGENCY = "emergency"
DETOX_FIRST = "detox_first"
HIGHER_LEVEL = "higher_level"
IOP_CANDIDATE = "iop_candidate"
OUTPATIENT = "outpatient"

# Handoff priority follows the route.
PRIORITY_FOR_ROUTE = {
    EMERGENCY: HandoffPriority.CRISIS, DETOX_FIRST: HandoffPriority.DETOX_FIRST,
    HIGHER_LEVEL: HandoffPriority.HIGHER_LEVEL, IOP_CANDIDATE: HandoffPriority.ROUTINE,
    OUTPATIENT: HandoffPriority.ROUTINE,
}


@dataclass(frozen=True)
class CareRoute:
    route: str
    reasons: tuple[str, ...]


def care_route_for(answers: PrescreenAnswers) -> CareRoute:
    """The most protective route the answers support, with every reason that points to it."""
    route = _route_for(answers)
    return CareRoute(route.route, route.reasons + _notes_for_any_route(answers))


def _route_for(answers: PrescreenAnswers) -> CareRoute:
    emergency = _emergency_reasons(answers)
    if emergency:
        return CareRoute(EMERGENCY, emergency)
    detox = _detox_reasons(answers)
    if detox:
        return CareRoute(DETOX_FIRST, detox)
    higher = _higher_level_reasons(answers)
    if higher:
        return CareRoute(HIGHER_LEVEL, higher)
    if answers.uses_daily or answers.co_occurring_conditions or answers.used_last_24h:
        return CareRoute(IOP_CANDIDATE, tuple(_iop_reasons(answers)))
    if answers.uses_daily is False:
        return CareRoute(
            OUTPATIENT,
            (("not using daily and no withdrawal risk reported: standard outpatient may fit; "
              "confirm with the full assessment"),),
        )
    return CareRoute(
        IOP_CANDIDATE,
        ("not enough answers to narrow it down: the full assessment decides",),
    )


def _emergency_reasons(answers: PrescreenAnswers) -> tuple[str, ...]:
    if answers.suicidal_thoughts_30_days == "now":
        return ("reports thoughts of suicide right now",)
    return ()


def _detox_reasons(answers: PrescreenAnswers) -> tuple[str, ...]:
    reasons = []
    dangerous = sorted(WITHDRAWAL_DANGEROUS.intersection(answers.substances))
    if answers.past_withdrawal_seizure_or_dts:
        reasons.append("past withdrawal seizure or delirium tremens (DTs)")
    if dangerous and answers.uses_daily and answers.withdrawal_symptoms_now:
        reasons.append(
            f"daily {' and '.join(dangerous)} use with withdrawal symptoms now"
        )
    if OPIOIDS in answers.substances and answers.uses_daily and not answers.on_medication_treatment:
        reasons.append("daily opioid use without medication treatment (MOUD)")
    return tuple(reasons)


def _higher_level_reasons(answers: PrescreenAnswers) -> tuple[str, ...]:
    reasons = []
    if answers.unsafe_home:
        reasons.append("home is not a safe place to recover")
    if answers.relapsed_after_outpatient:
        reasons.append("relapsed after earlier outpatient treatment")
    return tuple(reasons)


def _iop_reasons(answers: PrescreenAnswers) -> list[str]:
    reasons = []
    if answers.uses_daily:
        reasons.append("daily use without reported withdrawal danger")
    if answers.used_last_24h and not answers.uses_daily:
        reasons.append("used in the last 24 hours")
    if answers.co_occurring_conditions:
        reasons.append("co-occurring mental health condition: IOP with integrated care")
    return reasons


def _notes_for_any_route(answers: PrescreenAnswers) -> tuple[str, ...]:
    """Facts a counselor must see whatever the route."""
    notes = []
    if answers.suicidal_thoughts_30_days == "past":
        notes.append("thoughts of suicide in the last 30 days, not now: screen for safety")
    if answers.age_group == "under_18":
        notes.append("under 18: adolescent program and a guardian's consent")
    return tuple(notes)
