"""`python -m bot.facility_check`: a center's profile mistakes named before anyone is told."""
import yaml

from bot.facility_check import check
from bot.settings import BOT_DIR

SAMPLE = BOT_DIR / "facility_profile.yml"


def _profile(tmp_path, change):
    raw = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "facility_profile.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_the_sample_profile_passes_and_says_which_topics_will_defer():
    report = check(SAMPLE)
    assert report.errors == []
    assert any("service_animals, smoking" in note for note in report.notes)
    assert 0 < min(report.room.values()) < 320


def test_a_misspelt_detail_or_section_is_named_with_the_likely_intended_one(tmp_path):
    def misspell(raw):
        raw["details"]["drug_tesing"] = raw["details"].pop("drug_testing")
        raw["detials"] = {}
    report = check(_profile(tmp_path, misspell))
    assert "unknown detail 'drug_tesing' (did you mean 'drug_testing'?)" in report.errors
    assert "unknown section 'detials' (did you mean 'details'?)" in report.errors


def test_a_long_center_name_is_reported_in_the_replies_it_pushes_over_one_text(tmp_path):
    def long_name(raw):
        raw["name"] = "Northern Illinois Behavioral Health and Addiction Recovery Center " * 2
    report = check(_profile(tmp_path, long_name))
    assert any(error.startswith("utter_faq_no_detail is ") and "facility_name" in error
               for error in report.errors)


def test_a_profile_mistake_is_reported_in_words_not_a_traceback(tmp_path):
    report = check(_profile(tmp_path, lambda raw: raw["details"].update(referral=False)))
    assert any("details.referral" in error and "quotes" in error for error in report.errors)


def test_an_unquoted_sentence_holding_a_colon_is_named_by_its_line(tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(text) if line.strip().startswith("group_size:"))
    text[at] = "  group_size: Our groups: about 8 people."
    path = tmp_path / "facility_profile.yml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    [error] = check(path).errors
    assert f"near line {at + 1}" in error and "double quotes" in error


def test_holiday_dates_about_to_run_out_are_warned_of_in_time():
    import datetime as dt

    def _warned(today):
        return [w for w in check(SAMPLE, today=today).warnings if "closed_dates" in w]
    assert _warned(dt.date(2026, 12, 4)) == []
    # The sample's last listed holiday is Christmas 2027: by November, next year's are due.
    [warning] = _warned(dt.date(2027, 11, 1))
    assert "none after 2027-12-25" in warning and "ring the admissions phone" in warning
    assert check(SAMPLE, today=dt.date(2027, 11, 1)).errors == []


def test_a_misspelt_setting_inside_a_section_is_named(tmp_path):
    def misspell(raw):
        raw["admissions"]["closed_date"] = raw["admissions"].pop("closed_dates")
        raw["insurance"]["acepted"] = raw["insurance"].pop("accepted")
    report = check(_profile(tmp_path, misspell))
    assert "unknown setting admissions.closed_date (did you mean 'closed_dates'?)" in report.errors
    assert "unknown setting insurance.acepted (did you mean 'accepted'?)" in report.errors


def test_an_impossible_holiday_date_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "facility_profile.yml"
    path.write_text(SAMPLE.read_text(encoding="utf-8").replace("- 2027-01-01", "- 2027-02-30"),
                    encoding="utf-8")
    report = check(path)
    assert any("closed_dates" in e and "2027-02-30" in e for e in report.errors)


def test_a_profile_not_saved_as_utf8_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "facility_profile.yml"
    path.write_bytes(SAMPLE.read_text(encoding="utf-8").replace(
        "Lakeview Recovery Center", "Lakeview\u2019s Recovery Center").encode("cp1252"))
    report = check(path)
    assert report.errors == ["the profile is not saved as UTF-8 (text pasted from a word "
                             "processor?): save it as UTF-8 text"]
