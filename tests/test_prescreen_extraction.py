"""Substances and insurers pulled from free-text answers by the blank-spaCy EntityRuler."""
from __future__ import annotations

import pytest

from bot.prescreen.extraction import insurer_in, substances_in


@pytest.mark.parametrize("answer, groups", [
    ("mostly booze", ["alcohol"]),
    ("Beer and some XANAX bars", ["alcohol", "benzodiazepines"]),
    ("heroin, sometimes fent", ["opioids"]),
    ("percs and roxies, oxy when I can't get those", ["opioids"]),
    ("my son smokes weed and does coke", ["cannabis", "cocaine"]),
    ("crystal meth", ["stimulants"]),
    ("kratom every day", ["kratom"]),
    ("crack", ["cocaine"]),
    ("pills", ["opioids"]),
])
def test_substances_by_name_and_slang(answer, groups):
    assert substances_in(answer) == groups


@pytest.mark.parametrize("answer", ["", "   ", "hello", "🙂🙂", "<script>alert(1)</script>",
                                    "'; DROP TABLE leads; --", "x" * 5000])
def test_no_substance_found_in_unrelated_or_bad_input(answer):
    assert substances_in(answer) == []


@pytest.mark.parametrize("answer, carrier", [
    ("I have BCBS", "Blue Cross Blue Shield"),
    ("blue cross of illinois", "Blue Cross Blue Shield"),
    ("uhc through my job", "UnitedHealthcare"),
    ("Optum", "UnitedHealthcare"),
    ("aetna", "Aetna"),
    ("he's on medicaid", "Medicaid"),
    ("tricare, I'm a vet", "Tricare"),
    ("Kaiser", "Kaiser Permanente"),
    ("ambetter", "Ambetter"),
    ("I'd pay out of pocket", "self_pay"),
    ("no insurance", "none"),
    ("no insurance except medicaid", "Medicaid"),
])
def test_insurance_carrier_by_name_and_shorthand(answer, carrier):
    assert insurer_in(answer) == carrier


@pytest.mark.parametrize("answer", ["", "not sure", "the one from work", "🙂"])
def test_unclear_insurance_is_not_guessed(answer):
    assert insurer_in(answer) is None
