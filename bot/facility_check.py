"""`python -m bot.facility_check`: checks the facility profile the way a center edits it.

It names a misspelt section or detail (with the likely intended name), says which topics
will answer "I don't have that detail", and fills every reply with the profile's own
values to show which would not fit one text message and how much room each detail has
left. Plain Python (no Rasa), so it runs in a second before `make run` and in `make test`.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.facility import FacilityProfile, FacilityProfileError, load_profile, read_profile_file
from bot.facility_faq import SMS_LIMIT
from bot.faq_answers import missing_details
from bot.faq_topics import known_details, load_topics
from bot.settings import BOT_DIR, load_settings

PLACEHOLDER = re.compile(r"\{(\w+)\}")
TOP_LEVEL_KEYS = ("name", "helpline_phone", "admissions", "address", "program", "insurance",
                  "telehealth", "detox_on_site", "medication_treatment", "specialty_tracks",
                  "details")
# The settings inside each section, to name a misspelt one ("closed_date") rather than
# silently go without it.
SECTION_KEYS = {
    "admissions": ("timezone", "timezone_label", "hours", "closed_dates"),
    "program": ("hours_per_week", "days_per_week", "session_options", "typical_length"),
    "insurance": ("accepted", "self_pay_range"),
}
# How far ahead the holiday dates should reach: a list that runs out at Christmas is
# noticed in October, not on December 26 with New Year's Day a week away.
CLOSED_DATES_AHEAD = dt.timedelta(days=60)
# Values actions fill in at run time rather than from the profile, at their longest.
LONGEST_RUNTIME_VALUES = {
    "suggested_topics": "cost, insurance or the weekly schedule",
    "callback": "on September 30 from 10:30am Central time, aiming for weekday evenings, "
                "after 6pm as you asked",
    "name": "Maximiliana-Josephine-Alexand",  # a first name is cut at 30 characters
    "relation": "your relative",
    "known_phone": "(312) 555-0142",
    "topic_label": "women's, men's and LGBTQ+ groups",
    "insurer": "Blue Cross Blue Shield",
}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Not a mistake yet, but one soon: printed to stderr as "warning:".
    warnings: list[str] = field(default_factory=list)
    # Detail name -> characters it could grow by before some reply passes one SMS.
    room: dict[str, int] = field(default_factory=dict)


def written_replies(domain_dir: Path = BOT_DIR / "domain") -> dict[str, list[str]]:
    """Each response's texts as sent by text message (variants for a call left out)."""
    replies: dict[str, list[str]] = {}
    for path in sorted(domain_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, variants in (data.get("responses") or {}).items():
            replies.setdefault(name, []).extend(
                v["text"] for v in variants if "text" in v and not v.get("channel"))
    return replies


def fill(text: str, values: dict[str, str]) -> str:
    return string.Formatter().vformat(text, (), values)


def check(profile_path: Path, today: dt.date | None = None) -> Report:
    report = Report()
    try:
        raw = read_profile_file(profile_path)
    except FacilityProfileError as error:
        report.errors.append(str(error))
        return report
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            report.errors.append(f"unknown section {key!r}{_did_you_mean(key, TOP_LEVEL_KEYS)}")
    for section, known_keys in SECTION_KEYS.items():
        values = raw.get(section)
        for key in values if isinstance(values, dict) else ():
            if key not in known_keys:
                report.errors.append(f"unknown setting {section}.{key}"
                                     f"{_did_you_mean(key, known_keys)}")
    try:
        profile = load_profile(profile_path)
    except FacilityProfileError as error:
        report.errors.append(str(error))
        return report
    topics = load_topics()
    known = sorted(known_details(topics))
    for name in (raw.get("details") or {}):
        if name not in known:
            report.errors.append(f"unknown detail {name!r}{_did_you_mean(name, known)}")
    deferring = sorted(key for key, topic in topics.items() if missing_details(topic, profile))
    if deferring:
        report.notes.append("these topics will say \"I don't have that detail\" (their "
                            f"details are empty): {', '.join(deferring)}")
    # "Today" where the center is, as the hours check reads the dates.
    _check_closed_dates(profile, today or dt.datetime.now(ZoneInfo(profile.timezone)).date(),
                        report)
    _check_lengths(profile, report)
    return report


def _check_closed_dates(profile: FacilityProfile, today: dt.date, report: Report) -> None:
    """The assistant tells people about holidays from a sentence, but only the dates decide
    whether a handoff rings the admissions phone: say when they are about to run out."""
    if not profile.details.get("holiday_closures"):
        return
    last = max(profile.closed_dates, default=None)
    if last is None or last < today + CLOSED_DATES_AHEAD:
        listed = f"lists none after {last.isoformat()}" if last else "lists no dates"
        report.warnings.append(
            f"details.holiday_closures names closed days, but admissions.closed_dates "
            f"{listed}: add the coming year's dates, or on those days a handoff will ring "
            "the admissions phone")


def _check_lengths(profile: FacilityProfile, report: Report) -> None:
    values = {**profile.reply_slots(), **profile.detail_values(), **LONGEST_RUNTIME_VALUES}
    for name, texts in written_replies().items():
        for text in texts:
            used = PLACEHOLDER.findall(text)
            if any(key not in values for key in used):
                continue  # a detail left empty: that topic defers instead
            length = len(fill(text, values))
            if length > SMS_LIMIT:
                report.errors.append(
                    f"{name} is {length} characters once filled, over one text message "
                    f"({SMS_LIMIT}); it uses {', '.join(sorted(set(used))) or 'no profile value'}")
            for key in used:
                if key.startswith("facility_") and key[len("facility_"):] in profile.details:
                    detail = key[len("facility_"):]
                    room = SMS_LIMIT - length
                    report.room[detail] = min(report.room.get(detail, room), room)


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def main() -> int:
    path = load_settings().facility_profile_path
    report = check(path)
    for note in report.notes:
        print(f"{path.name}: {note}")
    if report.room:
        tight = sorted(report.room.items(), key=lambda item: item[1])[:5]
        print(f"{path.name}: room left in the tightest details: "
              + ", ".join(f"{name} {room}" for name, room in tight) + " characters")
    for warning in report.warnings:
        print(f"{path.name}: warning: {warning}", file=sys.stderr)
    for error in report.errors:
        print(f"{path.name}: {error}", file=sys.stderr)
    if not report.errors:
        print(f"{path.name}: every reply fits one text message")
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
