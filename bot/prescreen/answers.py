"""The pre-screen answers as one typed record: for the form, the care route and the leads DB."""
from __future__ import annotations

from dataclasses import dataclass, field

# Substance groups the extractor labels; the care route reasons about groups, not slang.
ALCOHOL = "alcohol"
BENZODIAZEPINES = "benzodiazepines"
OPIOIDS = "opioids"
# Stopping these suddenly can itself be dangerous, which is why they weigh on detox.
WITHDRAWAL_DANGEROUS = frozenset({ALCOHOL, BENZODIAZEPINES})


@dataclass(frozen=True)
class PrescreenAnswers:
    """What the person told us; None means not asked, skipped or not yet answered."""

    for_whom: str | None = None  # "self" or "loved_one"
    relationship: str | None = None  # for a loved one: "parent", "spouse", ...
    age_group: str | None = None  # "adult" or "under_18"
    state: str | None = None  # two-letter US state
    substances: tuple[str, ...] = field(default_factory=tuple)  # groups, e.g. ("alcohol",)
    uses_daily: bool | None = None
    used_last_24h: bool | None = None
    withdrawal_symptoms_now: bool | None = None
    past_withdrawal_seizure_or_dts: bool | None = None
    on_medication_treatment: bool | None = None  # buprenorphine, methadone, naltrexone
    co_occurring_conditions: bool | None = None
    suicidal_thoughts_30_days: str | None = None  # "no", "past", "now"
    unsafe_home: bool | None = None
    relapsed_after_outpatient: bool | None = None
