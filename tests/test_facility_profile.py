"""The facility profile: parsing, the admissions-hours logic, and clear errors for bad files."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.facility import FacilityProfileError, join_words, load_profile, parse_profile
from bot.settings import load_settings

CHICAGO = ZoneInfo("America/Chicago")


def _raw():
    return yaml.safe_load(load_settings().facility_profile_path.read_text(encoding="utf-8"))


def test_shipped_profile_loads(profile):
    assert profile.helpline_phone and profile.accepted_insurers


@pytest.mark.parametrize(
    "local_time, is_open",
    [
        (dt.datetime(2026, 11, 23, 9, 0), True),     # Monday morning
        (dt.datetime(2026, 11, 23, 7, 59), False),   # before opening
        (dt.datetime(2026, 11, 23, 20, 0), False),   # closing time itself is closed
        (dt.datetime(2026, 11, 27, 17, 30), True),   # Friday, shorter day
        (dt.datetime(2026, 11, 27, 18, 30), False),
        (dt.datetime(2026, 11, 28, 10, 0), True),    # Saturday morning
        (dt.datetime(2026, 11, 29, 10, 0), False),   # Sunday: closed
        (dt.datetime(2026, 11, 24, 2, 0), False),    # 2 a.m.
    ],
)
def test_admissions_open_follows_the_profile_hours_in_its_time_zone(profile, local_time, is_open):
    assert profile.is_admissions_open(local_time.replace(tzinfo=CHICAGO)) is is_open


def test_open_check_converts_from_utc(profile):
    # 15:00 UTC on a Monday in November is 9 a.m. in Chicago.
    assert profile.is_admissions_open(dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc))
    assert not profile.is_admissions_open(dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.timezone.utc))


def test_hours_summary_groups_days_with_the_same_hours(profile):
    assert profile.hours_summary() == "Mon-Thu 8am-8pm, Fri 8am-6pm, Sat 9am-1pm Central time"


def test_a_center_without_telehealth_says_so():
    raw = _raw()
    raw["telehealth"] = False
    note = parse_profile(raw).reply_slots()["facility_telehealth_note"]
    assert "in person" in note and "don't" in note


def test_a_center_with_detox_on_site_says_so():
    raw = _raw()
    raw["detox_on_site"] = True
    assert "detox here" in parse_profile(raw).reply_slots()["facility_detox_note"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda raw: raw.pop("helpline_phone"), "helpline_phone"),
        (lambda raw: raw["admissions"].update(timezone="Mars/Olympus"), "time zone"),
        (lambda raw: raw["admissions"]["hours"].update(mon="8am to 8pm"), "admissions.hours.mon"),
        (lambda raw: raw["admissions"]["hours"].update(tue="20:00-08:00"), "closes before"),
        (lambda raw: raw["admissions"]["hours"].update(funday="08:00-09:00"), "unknown days"),
        (lambda raw: raw["insurance"].pop("self_pay_range"), "self_pay_range"),
    ],
)
def test_a_broken_profile_fails_with_a_message_naming_the_problem(mutate, message):
    raw = _raw()
    mutate(raw)
    with pytest.raises(FacilityProfileError, match=message):
        parse_profile(raw)


def test_a_profile_file_that_is_not_a_mapping_is_rejected(tmp_path):
    path = tmp_path / "profile.yml"
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(FacilityProfileError):
        load_profile(path)


@pytest.mark.parametrize(
    "items, joined",
    [([], ""), (["Aetna"], "Aetna"), (["Aetna", "Cigna"], "Aetna and Cigna"),
     (["A", "B", "C"], "A, B and C")],
)
def test_join_words(items, joined):
    assert join_words(items) == joined


@pytest.mark.parametrize("local_now, phrase", [
    # Monday 22:00 in Chicago: opens Tuesday 8am.
    (dt.datetime(2026, 11, 23, 22, 0), "tomorrow from 8am Central time"),
    # Monday 06:00: opens later today.
    (dt.datetime(2026, 11, 23, 6, 0), "today from 8am Central time"),
    # Saturday 14:00: closed Sunday, opens Monday.
    (dt.datetime(2026, 11, 28, 14, 0), "on Monday from 8am Central time"),
])
def test_after_hours_callback_names_the_next_opening(profile, local_now, phrase):
    assert profile.callback_phrase(local_now.replace(tzinfo=CHICAGO)) == phrase


def test_callback_mentions_the_time_the_person_asked_for(profile):
    now = dt.datetime(2026, 11, 23, 22, 0, tzinfo=CHICAGO)
    assert profile.callback_phrase(now, "evenings").endswith("aiming for evenings as you asked")



def _with_detail(value):
    raw = _raw()
    raw["details"]["group_size"] = value
    return raw


def test_a_detail_reads_as_a_sentence_and_an_empty_detail_is_absent():
    assert parse_profile(_with_detail("groups have   about 10 people")).details[
        "group_size"] == "Groups have about 10 people."
    assert parse_profile(_with_detail("Ten at most!")).details["group_size"] == "Ten at most!"
    assert "group_size" not in parse_profile(_with_detail("")).details
    assert "group_size" not in parse_profile(_with_detail("   ")).details


@pytest.mark.parametrize(
    "value, message",
    [
        (False, "put quotes around it"),  # `referral: no` without quotes is a YAML boolean
        (10, "got int"),
        (float("nan"), "got float"),
        ({"a": 1}, "got dict"),
        (["a", "b"], "got list"),
        ("x" * 201, "201 characters"),
    ],
)
def test_a_detail_that_would_read_oddly_is_refused_with_a_plain_message(value, message):
    with pytest.raises(FacilityProfileError, match=message):
        parse_profile(_with_detail(value))


def test_a_closed_date_keeps_admissions_closed_and_moves_the_callback(profile):
    # Christmas Day 2026 is a Friday: open hours on the weekday, closed in the profile.
    christmas_morning = dt.datetime(2026, 12, 25, 10, 0, tzinfo=CHICAGO)
    assert not profile.is_admissions_open(christmas_morning)
    assert profile.is_admissions_open(dt.datetime(2026, 12, 24, 10, 0, tzinfo=CHICAGO))
    # The evening before, the next opening is Saturday morning, not Christmas Day.
    christmas_eve_late = dt.datetime(2026, 12, 24, 21, 0, tzinfo=CHICAGO)
    assert profile.next_opening(christmas_eve_late) == dt.datetime(2026, 12, 26, 9, 0,
                                                                    tzinfo=CHICAGO)
    assert profile.callback_phrase(christmas_eve_late).startswith("on Saturday from 9am")


def test_closed_dates_may_be_quoted_and_a_bad_one_is_named():
    raw = _raw()
    raw["admissions"]["closed_dates"] = ["2026-11-23"]
    assert not parse_profile(raw).is_admissions_open(
        dt.datetime(2026, 11, 23, 9, 0, tzinfo=CHICAGO))
    raw["admissions"]["closed_dates"] = ["Christmas"]
    with pytest.raises(FacilityProfileError, match="closed_dates"):
        parse_profile(raw)
    # A single date, or a date with a time (which would never match a day), is refused.
    for wrong in ("2026-12-25", [dt.datetime(2026, 12, 25, 0, 0)], ["2026-12-25T00:00"]):
        raw["admissions"]["closed_dates"] = wrong
        with pytest.raises(FacilityProfileError, match="closed_dates"):
            parse_profile(raw)


def test_closed_dates_apart_from_each_other_still_find_the_next_opening():
    raw = _raw()
    # Saturday hours only, and the next two Saturdays closed.
    raw["admissions"]["hours"] = {"sat": "09:00-13:00"}
    raw["admissions"]["closed_dates"] = ["2026-12-26", "2027-01-02"]
    opening = parse_profile(raw).next_opening(dt.datetime(2026, 12, 20, 12, 0, tzinfo=CHICAGO))
    assert opening == dt.datetime(2027, 1, 9, 9, 0, tzinfo=CHICAGO)


def test_a_week_of_closed_dates_still_finds_the_next_opening():
    raw = _raw()
    raw["admissions"]["closed_dates"] = [f"2026-12-{day}" for day in range(21, 32)]
    profile = parse_profile(raw)
    sunday_before = dt.datetime(2026, 12, 20, 12, 0, tzinfo=CHICAGO)
    # New Year's Day is not in this list, and is a Friday.
    assert profile.next_opening(sunday_before) == dt.datetime(2027, 1, 1, 8, 0, tzinfo=CHICAGO)
    # Twelve days away: "on Friday" would read as this coming Friday.
    assert profile.callback_phrase(sunday_before) == "on January 1 from 8am Central time"


@pytest.mark.parametrize("saved, named", [
    ("name: [unclosed".encode(), "not valid YAML near line 1"),
    ("name: Lakeview\u2019s".encode("cp1252"), "not saved as UTF-8"),
])
def test_a_file_that_cannot_be_read_is_named_not_a_traceback(tmp_path, saved, named):
    path = tmp_path / "profile.yml"
    path.write_bytes(saved)
    with pytest.raises(FacilityProfileError, match=named):
        load_profile(path)


@pytest.mark.parametrize("section, key, wrong", [
    ("admissions", "hours", ["mon", "tue"]),
    ("insurance", "accepted", 5),
    (None, "specialty_tracks", 3),
])
def test_a_setting_of_the_wrong_kind_is_named_not_a_traceback(tmp_path, section, key, wrong):
    raw = _raw()
    (raw[section] if section else raw)[key] = wrong
    path = tmp_path / "profile.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(FacilityProfileError, match="wrong kind|must be a list"):
        load_profile(path)


def test_plans_written_on_one_line_are_named_not_read_letter_by_letter():
    raw = _raw()
    raw["insurance"]["accepted"] = "Aetna, Cigna"
    with pytest.raises(FacilityProfileError, match="insurance.accepted must be a list"):
        parse_profile(raw)
