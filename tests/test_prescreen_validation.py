"""Pre-screen answers as people type them, turned into the values a counselor can use."""
from __future__ import annotations

import pytest

from bot.prescreen import validation as v


@pytest.mark.parametrize("typed, stored", [
    ("312-555-0142", "+13125550142"),
    ("(312) 555 0142", "+13125550142"),
    ("312.555.0142", "+13125550142"),
    ("+1 312 555 0142", "+13125550142"),
    ("my number is 3125550142", "+13125550142"),
])
def test_us_phone_numbers_are_stored_as_e164(typed, stored):
    assert v.parse_us_phone(typed) == stored


@pytest.mark.parametrize("typed", ["555-0142", "123", "", "call me", "+44 20 7946 0958",
                                   "000-000-0000", "1" * 5000, "'; DROP TABLE leads; --"])
def test_unusable_phone_numbers_are_refused(typed):
    assert v.parse_us_phone(typed) is None


def test_phone_is_read_back_the_way_people_write_it():
    assert v.speakable_phone("+13125550142") == "(312) 555-0142"


@pytest.mark.parametrize("typed, stored", [("Sam@Example.com ", "sam@example.com"),
                                           ("a.b+c@mail.co.uk", "a.b+c@mail.co.uk")])
def test_valid_email(typed, stored):
    assert v.parse_email(typed) == stored


@pytest.mark.parametrize("typed", ["sam", "sam@", "@example.com", "sam@example",
                                   "<script>@x.com", "sam @example.com", ""])
def test_invalid_email(typed):
    assert v.parse_email(typed) is None


@pytest.mark.parametrize("typed, group", [
    ("34", "adult"), ("I'm 52", "adult"), ("18", "adult"), ("over 18", "adult"),
    ("17", "under_18"), ("he's 16", "under_18"), ("under 18", "under_18"),
    ("she's a teenager", "under_18"), ("yes", "adult"), ("hmm", None), ("999", None),
])
def test_age_group(typed, group):
    assert v.parse_age_group(typed) == group


@pytest.mark.parametrize("typed, state", [
    ("IL", "IL"), ("illinois", "IL"), ("Springfield, IL 62701", "IL"), ("new york", "NY"),
    ("west virginia", "WV"), ("in", "IN"), ("I live in texas", "TX"), ("mars", None), ("", None),
])
def test_state(typed, state):
    assert v.parse_state(typed) == state


@pytest.mark.parametrize("typed, state", [
    ("60601", "IL"), ("my zip is 60601", "IL"), ("10001", "NY"), ("zip code 94103", "CA"),
    ("00000", None),  # no such ZIP
    ("09002", None),  # a military APO: not a state
])
def test_a_zip_code_gives_the_state(typed, state):
    assert v.parse_state(typed) == state


def test_zip_is_optional_and_found_inside_an_address():
    assert v.parse_zip("Springfield IL 62701-1234") == "62701"
    assert v.parse_zip("IL") is None


@pytest.mark.parametrize("typed, answer", [
    ("yes", True), ("Yeah", True), ("yep, every day", True), ("no", False), ("nope", False),
    ("not really", False), ("maybe", None), ("", None),
])
def test_yes_no(typed, answer):
    assert v.parse_yes_no(typed) is answer


@pytest.mark.parametrize("typed, who", [
    ("myself", "self"), ("me", "self"), ("it's for me", "self"), ("my son", "loved_one"),
    ("for my wife", "loved_one"), ("a friend", "loved_one"), ("asdf", None),
])
def test_for_whom(typed, who):
    assert v.parse_for_whom(typed) == who


@pytest.mark.parametrize("typed, relationship", [
    ("my son", "parent"), ("my husband", "spouse_or_partner"), ("my mom", "child"),
    ("my sister", "sibling"), ("a friend", "friend"), ("someone", None),
])
def test_relationship(typed, relationship):
    assert v.relationship_in(typed) == relationship


@pytest.mark.parametrize("typed, name", [
    ("Sam", "Sam"), ("sam", "Sam"), ("my name is maria", "Maria"), ("I'm José", "José"),
    ("Mary Ann", "Mary"), ("call me jo", "Jo"), ("", None), ("12345", None),
    ("<b>sam</b>", None), ("I don't want to tell you my name right now", None),
])
def test_first_name(typed, name):
    assert v.parse_first_name(typed) == name


@pytest.mark.parametrize("typed, answer", [
    ("no", "no"), ("never", "no"), ("yes, right now", "now"), ("yes", "now"),
    ("a couple weeks ago but not now", "past"), ("in the past month yes", "past"),
    ("I'm having them tonight", "now"), ("hmm", None),
])
def test_suicidal_thoughts(typed, answer):
    assert v.parse_suicidal_thoughts(typed) == answer


@pytest.mark.parametrize("typed", ["skip", "Prefer not to say", "idk", "pass"])
def test_skip(typed):
    assert v.is_skip(typed)


@pytest.mark.parametrize("typed, name", [("McKenzie", "McKenzie"), ("DeShawn", "DeShawn"),
                                         ("PersonA", "PersonA"), ("maria", "Maria")])
def test_first_name_is_kept_as_typed(typed, name):
    assert v.parse_first_name(typed) == name


@pytest.mark.parametrize("typed", ["no", "Yes", "skip", "no sé"])
def test_yes_no_and_skip_words_are_not_names(typed):
    assert v.parse_first_name(typed) is None
