"""The suggested care route a counselor sees: table-driven, with the reasons behind each."""
from __future__ import annotations

import pytest

from bot.prescreen.answers import PrescreenAnswers
from bot.prescreen.care_route import (
    DETOX_FIRST,
    EMERGENCY,
    HIGHER_LEVEL,
    IOP_CANDIDATE,
    OUTPATIENT,
    care_route_for,
)

CASES = [
    # (case, answers, expected route, a phrase the reasons must contain)
    ("suicidal thoughts now outrank everything",
     PrescreenAnswers(substances=("alcohol",), uses_daily=True, withdrawal_symptoms_now=True,
                      suicidal_thoughts_30_days="now"),
     EMERGENCY, "suicide right now"),
    ("daily drinking with the shakes now",
     PrescreenAnswers(substances=("alcohol",), uses_daily=True, withdrawal_symptoms_now=True),
     DETOX_FIRST, "daily alcohol use with withdrawal symptoms"),
    ("daily benzos with withdrawal now",
     PrescreenAnswers(substances=("benzodiazepines",), uses_daily=True,
                      withdrawal_symptoms_now=True),
     DETOX_FIRST, "benzodiazepines"),
    ("a past withdrawal seizure, even without daily use",
     PrescreenAnswers(substances=("alcohol",), uses_daily=False,
                      past_withdrawal_seizure_or_dts=True),
     DETOX_FIRST, "seizure"),
    ("daily opioids without MOUD",
     PrescreenAnswers(substances=("opioids",), uses_daily=True, on_medication_treatment=False),
     DETOX_FIRST, "without medication treatment"),
    ("daily opioids with MOUD stays outpatient-level",
     PrescreenAnswers(substances=("opioids",), uses_daily=True, on_medication_treatment=True),
     IOP_CANDIDATE, "daily use"),
    ("daily drinking without withdrawal signs",
     PrescreenAnswers(substances=("alcohol",), uses_daily=True, withdrawal_symptoms_now=False),
     IOP_CANDIDATE, "daily use"),
    ("daily cannabis with 'withdrawal' is not a detox case",
     PrescreenAnswers(substances=("cannabis",), uses_daily=True, withdrawal_symptoms_now=True),
     IOP_CANDIDATE, "daily use"),
    ("unsafe home",
     PrescreenAnswers(substances=("stimulants",), uses_daily=True, unsafe_home=True),
     HIGHER_LEVEL, "not a safe place"),
    ("relapse after outpatient",
     PrescreenAnswers(substances=("cocaine",), uses_daily=False, relapsed_after_outpatient=True),
     HIGHER_LEVEL, "relapsed after earlier outpatient"),
    ("co-occurring condition without daily use",
     PrescreenAnswers(substances=("cannabis",), uses_daily=False, co_occurring_conditions=True),
     IOP_CANDIDATE, "co-occurring"),
    ("weekend use, nothing else",
     PrescreenAnswers(substances=("alcohol",), uses_daily=False, withdrawal_symptoms_now=False),
     OUTPATIENT, "not using daily"),
    ("nothing answered: the assessment decides",
     PrescreenAnswers(), IOP_CANDIDATE, "full assessment"),
]


@pytest.mark.parametrize("case, answers, route, reason", CASES, ids=[c[0] for c in CASES])
def test_care_route_and_its_reason(case, answers, route, reason):
    suggestion = care_route_for(answers)
    assert suggestion.route == route
    assert any(reason in r for r in suggestion.reasons), suggestion.reasons


def test_every_reason_that_applies_is_listed():
    suggestion = care_route_for(PrescreenAnswers(
        substances=("alcohol", "opioids"), uses_daily=True, withdrawal_symptoms_now=True,
        past_withdrawal_seizure_or_dts=True, on_medication_treatment=False,
    ))
    assert suggestion.route == DETOX_FIRST
    assert len(suggestion.reasons) == 3


@pytest.mark.parametrize("answers", [
    PrescreenAnswers(substances=("alcohol",), uses_daily=False, suicidal_thoughts_30_days="past"),
    PrescreenAnswers(substances=("alcohol",), uses_daily=True, withdrawal_symptoms_now=True,
                     suicidal_thoughts_30_days="past"),
])
def test_recent_suicidal_thoughts_are_noted_on_any_route(answers):
    assert any("screen for safety" in r for r in care_route_for(answers).reasons)


def test_under_18_is_flagged_for_the_adolescent_route():
    reasons = care_route_for(PrescreenAnswers(age_group="under_18", uses_daily=False)).reasons
    assert any("adolescent" in r for r in reasons)
