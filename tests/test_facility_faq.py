"""A center's own questions: checked in plain words, and handed to Rasa as topics."""
import pytest
import yaml

from bot.facility_faq import FacilityFaqError, load_facility_faq, parse_facility_faq
from bot.nlu.facility_faq_importer import FacilityFaqImporter
from bot.settings import BOT_DIR, PROJECT_ROOT

EXAMPLES = ["is there a quiet room", "can i sit somewhere quiet", "do you have a calm space",
            "is there a room to decompress", "where can i go if group is too much"]
ANSWER = "Yes, there is a quiet room next to the group room. Say 'counselor' to ask more."


def _question(**overrides):
    return {"key": "quiet_room", "label": "a quiet room", "examples": EXAMPLES,
            "answer": ANSWER, **overrides}


def test_a_question_becomes_a_center_topic():
    [question] = parse_facility_faq({"questions": [_question()]})
    assert question.key == "center_quiet_room"
    assert question.label == "a quiet room"
    assert question.examples == tuple(EXAMPLES)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"key": "Quiet Room"}, "key must be"),
        ({"examples": EXAMPLES[:3]}, "at least 5"),
        ({"examples": EXAMPLES[:4] + [EXAMPLES[0]]}, "at least 5"),
        ({"answer": ""}, "empty"),
        ({"answer": "x" * 321}, "321 characters"),
        ({"answer": "Call {facility_phone}"}, "without"),
        ({"examples": "is there a quiet room"}, "list of phrasings"),
        ({"key": "quiet\n"}, "key must be"),
        ({"key": 7}, "key must be"),
        ({"examples": EXAMPLES[:4] + ["is it calm\n- i want to die"]}, "one line"),
        ({"answer": [1, 2]}, "must be text"),
        ({"label": "a\nb"}, "short line"),
        ({"anwser": "Yes."}, "unknown field 'anwser'"),
    ],
)
def test_mistakes_are_refused_with_the_question_and_the_reason(overrides, message):
    with pytest.raises(FacilityFaqError, match=message):
        parse_facility_faq({"questions": [_question(**overrides)]})


def test_the_same_key_twice_is_refused():
    with pytest.raises(FacilityFaqError, match="used twice"):
        parse_facility_faq({"questions": [_question(), _question()]})


@pytest.mark.parametrize("data", [{"question": [_question()]}, [_question()]])
def test_a_misspelt_or_missing_questions_heading_is_refused_not_ignored(data):
    with pytest.raises(FacilityFaqError, match="questions:"):
        parse_facility_faq(data)


def test_a_file_not_in_utf8_is_refused_with_a_plain_message(tmp_path):
    path = tmp_path / "facility_faq.yml"
    path.write_bytes("questions:\n  - key: caf\xe9\n".encode("latin-1"))
    with pytest.raises(FacilityFaqError, match="UTF-8"):
        load_facility_faq(path)


def test_no_file_or_an_empty_file_means_no_questions(tmp_path):
    assert load_facility_faq(tmp_path / "missing.yml") == []
    (tmp_path / "empty.yml").write_text("# nothing yet\n")
    assert load_facility_faq(tmp_path / "empty.yml") == []


def test_the_importer_hands_rasa_the_examples_and_the_answer(tmp_path):
    path = tmp_path / "facility_faq.yml"
    path.write_text(yaml.safe_dump({"questions": [_question()]}), encoding="utf-8")
    importer = FacilityFaqImporter(path=str(path))
    examples = importer.get_nlu_data().intent_examples
    assert {e.get("text") for e in examples} == set(EXAMPLES)
    assert {e.get("intent_response_key") for e in examples} == {"faq/center_quiet_room"}
    responses = importer.get_domain().responses
    assert responses["utter_faq/center_quiet_room"] == [{"text": ANSWER}]


def test_rasa_training_sees_the_shipped_center_question():
    """Through config.yml's importers, as `rasa train` loads the data."""
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(PROJECT_ROOT / "config.yml"), str(BOT_DIR / "domain"), [str(BOT_DIR / "data")])
    keys = {e.get("intent_response_key") for e in importer.get_nlu_data().intent_examples}
    assert "faq/center_completion_certificate" in keys
    assert "faq/drug_testing" in keys
    assert "utter_faq/center_completion_certificate" in importer.get_domain().responses


def test_the_check_before_training_names_the_mistake(tmp_path, monkeypatch, capsys):
    import bot.facility_faq as facility_faq

    path = tmp_path / "facility_faq.yml"
    path.write_text(yaml.safe_dump({"questions": [_question(examples=EXAMPLES[:2])]}))
    monkeypatch.setattr(facility_faq, "FACILITY_FAQ_PATH", path)
    monkeypatch.setattr(facility_faq.load_facility_faq, "__defaults__", (path,))
    assert facility_faq.main() == 1
    assert "'quiet_room': give at least 5 different phrasings, got 2" in capsys.readouterr().err
