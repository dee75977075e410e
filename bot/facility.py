"""Loads the facility profile and turns it into the phrases replies are filled with.

Pure Python (no Rasa import) so it is tested as plain functions.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

logger = logging.getLogger(__name__)

# A detail is put inside a reply that must fit one text message (320 characters).
MAX_DETAIL_CHARACTERS = 200
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_LABELS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
                       strict=True))


class FacilityProfileError(ValueError):
    """The profile file is missing something a reply needs."""


@dataclass(frozen=True)
class OpeningHours:
    opens: dt.time
    closes: dt.time


@dataclass(frozen=True)
class FacilityProfile:
    name: str
    helpline_phone: str
    timezone: str
    timezone_label: str
    admissions_hours: dict[str, OpeningHours]
    address: str
    hours_per_week: str
    days_per_week: str
    session_options: str
    typical_length: str
    accepted_insurers: tuple[str, ...]
    self_pay_range: str
    telehealth: bool
    detox_on_site: bool
    medication_treatment: bool
    specialty_tracks: tuple[str, ...]
    # The answers to the long tail of questions (`details:` in the profile), by name; a fact
    # the center left empty is absent, so its topic says "I don't have that detail".
    details: Mapping[str, str] = field(default_factory=dict)
    # Whole days admissions is closed although the weekday has hours (holidays), in local
    # time: a handoff then says when a counselor will call back rather than ringing an
    # empty office. `details.holiday_closures` is only what the assistant says about them.
    closed_dates: frozenset[dt.date] = frozenset()

    def is_admissions_open(self, now: dt.datetime) -> bool:
        """True when a counselor is on shift at `now` (any tz-aware datetime)."""
        local = now.astimezone(ZoneInfo(self.timezone))
        hours = self._hours_on(local.date())
        return hours is not None and hours.opens <= local.time() < hours.closes

    def _hours_on(self, day: dt.date) -> OpeningHours | None:
        if day in self.closed_dates:
            return None
        return self.admissions_hours.get(WEEKDAYS[day.weekday()])

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """When admissions next opens after `now` (local time), or None if it never does."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        # A week past today or past the last closed date still to come, whichever is later
        # (closed dates need not be consecutive), but no more than a year ahead.
        upcoming = [day for day in self.closed_dates if day >= local.date()]
        horizon = min(max(upcoming, default=local.date()), local.date() + dt.timedelta(days=366))
        for days_ahead in range((horizon - local.date()).days + 8):
            day = local.date() + dt.timedelta(days=days_ahead)
            hours = self._hours_on(day)
            if hours is None:
                continue
            opens = dt.datetime.combine(day, hours.opens, tzinfo=zone)
            if opens > local:
                return opens
        return None

    def callback_phrase(self, now: dt.datetime, best_time: str | None = None) -> str:
        """"tomorrow from 8am Central time, aiming for evenings as you asked": after hours."""
        opening = self.next_opening(now)
        if opening is None:
            when = f"as soon as admissions opens (call {self.helpline_phone})"
        else:
            today = now.astimezone(opening.tzinfo).date()
            if opening.date() == today:
                day = "today"
            elif opening.date() == today + dt.timedelta(days=1):
                day = "tomorrow"
            elif opening.date() < today + dt.timedelta(days=7):
                day = f"on {opening:%A}"
            else:
                # A week or more away (a holiday closure): "on Saturday" would read as this
                # coming Saturday. The date alone, to leave the reply room in one text.
                day = f"on {opening:%B} {opening.day}"
            when = f"{day} from {_clock(opening.time())} {self.timezone_label}"
        if best_time and best_time not in ("any time", "skipped"):
            when += f", aiming for {best_time} as you asked"
        return when

    def hours_summary(self) -> str:
        """Short, speakable summary such as 'Mon-Thu 8am-8pm, Sat 9am-1pm Central time'."""
        groups: list[tuple[str, str, OpeningHours]] = []
        for day in WEEKDAYS:
            hours = self.admissions_hours.get(day)
            if hours is None:
                continue
            if groups and groups[-1][2] == hours and _next_day(groups[-1][1]) == day:
                groups[-1] = (groups[-1][0], day, hours)
            else:
                groups.append((day, day, hours))
        parts = []
        for first, last, hours in groups:
            days = (_DAY_LABELS[first] if first == last
                    else f"{_DAY_LABELS[first]}-{_DAY_LABELS[last]}")
            parts.append(f"{days} {_clock(hours.opens)}-{_clock(hours.closes)}")
        return f"{', '.join(parts)} {self.timezone_label}" if parts else "by appointment"

    def reply_slots(self) -> dict[str, str]:
        """Values for the `{facility_*}` placeholders in the domain's responses."""
        return {
            "facility_name": self.name,
            "facility_phone": self.helpline_phone,
            "facility_hours": self.hours_summary(),
            "facility_address": self.address,
            "facility_hours_per_week": self.hours_per_week,
            "facility_days_per_week": self.days_per_week,
            "facility_session_options": self.session_options,
            "facility_program_length": self.typical_length,
            "facility_insurers": join_words(self.accepted_insurers) or "a range of plans",
            "facility_self_pay": self.self_pay_range,
            "facility_telehealth_note": (
                "Yes, we offer IOP sessions by secure video for people who qualify, "
                "as well as in person."
                if self.telehealth
                else "Our IOP sessions are in person; we don't offer them by video right now."
            ),
            "facility_detox_note": (
                "We offer medically supervised detox here before IOP starts."
                if self.detox_on_site
                else "We don't provide detox on site, but a counselor can help you arrange it "
                "first."
            ),
            "facility_medication_note": (
                "Our program can include medication for addiction treatment, "
                "prescribed and managed by our medical staff."
                if self.medication_treatment
                else "We don't prescribe here, but we work alongside your own prescriber."
            ),
            "facility_tracks": join_words(self.specialty_tracks) or "general adult groups",
        }

    def detail_values(self) -> dict[str, str]:
        """Values for the `{facility_<detail>}` placeholders of the long-tail answers."""
        return {f"facility_{name}": value for name, value in self.details.items()}


def join_words(items: tuple[str, ...] | list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [item for item in items if item]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _next_day(day: str) -> str | None:
    index = WEEKDAYS.index(day)
    return WEEKDAYS[index + 1] if index + 1 < len(WEEKDAYS) else None


def _clock(time: dt.time) -> str:
    hour = time.hour % 12 or 12
    suffix = "am" if time.hour < 12 else "pm"
    return f"{hour}{suffix}" if time.minute == 0 else f"{hour}:{time.minute:02d}{suffix}"


def _parse_hours(raw: str, day: str) -> OpeningHours:
    try:
        opens, closes = (dt.time.fromisoformat(part.strip()) for part in str(raw).split("-"))
    except ValueError as error:
        raise FacilityProfileError(
            f"admissions.hours.{day} must look like '08:00-20:00', got {raw!r}"
        ) from error
    if closes <= opens:
        raise FacilityProfileError(f"admissions.hours.{day} closes before it opens")
    return OpeningHours(opens, closes)


def _as_list(raw: object, where: str, example: str) -> list:
    # "accepted: Aetna, Cigna" or "closed_dates: 2026-12-25" is one string, which would be
    # read letter by letter or not at all.
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raise FacilityProfileError(f"{where} must be a list, one item per line starting with "
                                   f"'- ', like '- {example}'")
    return raw


def _parse_closed_dates(raw: object) -> frozenset[dt.date]:
    dates = set()
    for value in _as_list(raw, "admissions.closed_dates", "2026-12-25"):
        # Read as text (_ProfileLoader), or as a date when the data came from elsewhere.
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            dates.add(value)
            continue
        try:
            dates.add(dt.date.fromisoformat(str(value).strip()))
        except ValueError as error:
            raise FacilityProfileError(
                f"admissions.closed_dates must hold real dates written YYYY-MM-DD, like "
                f"2026-12-25; got {value!r}"
            ) from error
    return frozenset(dates)


def _word_list(raw: object, where: str, example: str) -> tuple[str, ...]:
    return tuple(str(item) for item in _as_list(raw, where, example))


def _require(mapping: dict, key: str, where: str = "") -> object:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if value is None or value == "":
        raise FacilityProfileError(f"facility profile is missing {where}{key}")
    return value


def parse_profile(data: dict) -> FacilityProfile:
    admissions = _require(data, "admissions")
    program = _require(data, "program")
    insurance = _require(data, "insurance")
    timezone = str(_require(admissions, "timezone", "admissions."))
    try:
        ZoneInfo(timezone)
    except Exception as error:  # ZoneInfoNotFoundError or a malformed key
        raise FacilityProfileError(f"unknown time zone {timezone!r}") from error
    raw_hours = admissions.get("hours") or {}
    unknown_days = set(raw_hours) - set(WEEKDAYS)
    if unknown_days:
        raise FacilityProfileError(f"unknown days in admissions.hours: {sorted(unknown_days)}")
    return FacilityProfile(
        name=str(_require(data, "name")),
        helpline_phone=str(_require(data, "helpline_phone")),
        timezone=timezone,
        timezone_label=str(admissions.get("timezone_label") or timezone),
        admissions_hours={day: _parse_hours(raw, day) for day, raw in raw_hours.items()},
        closed_dates=_parse_closed_dates(admissions.get("closed_dates")),
        address=str(_require(data, "address")),
        hours_per_week=str(_require(program, "hours_per_week", "program.")),
        days_per_week=str(_require(program, "days_per_week", "program.")),
        session_options=str(_require(program, "session_options", "program.")),
        typical_length=str(_require(program, "typical_length", "program.")),
        accepted_insurers=_word_list(insurance.get("accepted"), "insurance.accepted", "Aetna"),
        self_pay_range=str(_require(insurance, "self_pay_range", "insurance.")),
        telehealth=bool(data.get("telehealth", False)),
        detox_on_site=bool(data.get("detox_on_site", False)),
        medication_treatment=bool(data.get("medication_treatment", False)),
        specialty_tracks=_word_list(data.get("specialty_tracks"), "specialty_tracks", "women"),
        details=_parse_details(data.get("details")),
    )


def _parse_details(raw: object) -> dict[str, str]:
    """`details:` as name -> the center's own sentence; empty values are dropped.

    Each reply puts the detail between sentences of its own, so a value is made to read as a
    sentence: a capital first letter, and a full stop if it has no closing punctuation.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FacilityProfileError("details must be a mapping of names to sentences")
    details = {}
    for name, value in raw.items():
        where = f"details.{name}"
        if value is not None and not isinstance(value, str):
            hint = (" (put quotes around it: YAML reads a bare yes/no as true/false)"
                    if isinstance(value, bool) else "")
            raise FacilityProfileError(
                f"{where} must be a sentence in quotes, got {type(value).__name__}{hint}")
        text = " ".join((value or "").split())
        if len(text) > MAX_DETAIL_CHARACTERS:
            raise FacilityProfileError(
                f"{where} is {len(text)} characters; keep it under {MAX_DETAIL_CHARACTERS} "
                "so its reply fits one text message")
        if text:
            details[str(name)] = as_sentence(text)
    return details


def as_sentence(text: str) -> str:
    """'we test weekly' -> 'We test weekly.'; a sentence already ending in . ! ? is kept."""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."


class _ProfileLoader(yaml.SafeLoader):
    """YAML as a center writes it, with dates kept as text: an impossible one (2027-02-30)
    is then named by `closed_dates`' own check rather than raised from inside the YAML
    reader, which would say neither where nor what."""


_ProfileLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_profile_file(path: Path) -> dict:
    """The profile file's settings as written, or FacilityProfileError saying, in words a
    center can act on, why the file cannot be read."""
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"),  # noqa: S506 (SafeLoader)
                         Loader=_ProfileLoader) or {}
    except UnicodeDecodeError as error:
        raise FacilityProfileError("the profile is not saved as UTF-8 (text pasted from a word "
                                   "processor?): save it as UTF-8 text") from error
    except yaml.YAMLError as error:
        # A center's first mistake is often an unquoted sentence holding ": "; a traceback
        # would not say where.
        mark = getattr(error, "problem_mark", None)
        where = f" near line {mark.line + 1}" if mark is not None else ""
        raise FacilityProfileError(f"the profile is not valid YAML{where}: put each detail's "
                                   "sentence in double quotes") from error
    if not isinstance(data, dict):
        raise FacilityProfileError(f"{path} must hold a mapping of settings")
    return data


def load_profile(path: Path) -> FacilityProfile:
    """The profile, or FacilityProfileError naming what is wrong with the file: every mistake
    a center can make in it is that one error, never a traceback."""
    data = read_profile_file(path)
    try:
        return parse_profile(data)
    except FacilityProfileError:
        raise
    except (TypeError, AttributeError, ValueError) as error:
        # A list where a mapping belongs (`hours: [mon, tue]`), a number where a list does.
        raise FacilityProfileError(f"{Path(path).name} has a setting of the wrong kind "
                                   f"({type(error).__name__}: {error})") from error


def readable_profile(path: Path) -> FacilityProfile | None:
    """The profile, or None (logged) when it cannot be read: for replies that must go out
    whatever the file says, the crisis reply first."""
    try:
        return cached_profile(path)
    except Exception as error:  # any mistake in the file: the caller answers without it
        logger.error("facility profile unreadable (%s); replying without its values",
                     type(error).__name__)
        return None


@lru_cache(maxsize=4)
def cached_profile(path: Path) -> FacilityProfile:
    """The profile is read once per process; restart the action server after editing it."""
    return load_profile(path)
