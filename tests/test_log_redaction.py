"""Log lines as an operator reads them: no message text, name, number or email, whoever logs."""
from __future__ import annotations

import io
import json
import logging

import pytest

from bot import log_redaction
from bot.log_redaction import install_log_redaction, remember_sensitive, scrub

NAME, PHONE, EMAIL, MEMBER_ID = "Zebulon", "(312) 555-0178", "zeb.q@example.org", "QZX9876543"


@pytest.fixture
def log_output():
    """Every line the root logger writes, formatted as a handler would, with redaction on."""
    install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.parametrize("line", [
    f"Received user message 'my name is {NAME}, call {PHONE}' with intent '{{...}}'",
    f"Validating extracted slots: {{'ps_first_name': '{NAME}'}}",
    f"UserUttered(text: hi, I'm {NAME}, intent: greet, use_text_for_featurization: False)",
    f"SlotSet(key: ps_first_name, value: {NAME} Smith)",
    f'BotUttered(text: Thanks {NAME}, data: {{"elements": null}})',
    f"Contents of ignored event: '{{'event': 'slot', 'value': {{'phone': '{PHONE}'}}}}'",
    f"Failed to parse arguments in line '/{NAME} relapsed on heroin'. Expected the intent",
    f"member id {MEMBER_ID}, email {EMAIL}",
])
def test_rasa_formats_lose_what_the_person_said(line):
    scrubbed = scrub(line)
    for secret in (NAME, "555-0178", EMAIL, MEMBER_ID):
        assert secret not in scrubbed, scrubbed


def test_structlog_lines_keep_their_event_and_level_only():
    line = json.dumps({"event": "processor.message.parse", "level": "debug",
                       "parse_data_text": f"I'm {NAME}", "slot_values": {"ps_phone": PHONE},
                       "exception": [{"exc_type": "KeyError", "frames": [
                           {"locals": {"text": f"{NAME} {PHONE}"}}]}]})
    assert json.loads(scrub(line)) == {"event": "processor.message.parse", "level": "debug",
                                       "exception": ["KeyError"]}


def test_what_a_debug_line_needs_to_be_useful_stays():
    line = ("Predicted next action 'utter_greet' with confidence 1.00 for conversation ID "
            "'web-Ab3_x.9f8e7d6c5b4a3928', 2026-12-01 10:15:02, http://127.0.0.1:5055/webhook")
    assert scrub(line) == line


def test_a_text_a_channel_received_never_appears_verbatim_anywhere():
    said = "my cousin Bartholomew keeps using again"
    remember_sensitive(said)
    assert said not in scrub(f"some library line: {said} (unexpected format)")


def test_our_own_lines_keep_ids_but_never_a_number_or_email(log_output):
    logging.getLogger("bot.test").info("handoff=%s from %s <%s>", "3f2a9c1e-1111-2222-3333-"
                                       "444455556666", PHONE, EMAIL)
    written = log_output.getvalue()
    assert "3f2a9c1e-1111-2222-3333-444455556666" in written
    assert "555-0178" not in written and EMAIL not in written


def test_an_exception_keeps_where_and_what_type_never_its_message(log_output):
    try:
        raise ValueError(f"could not parse {NAME}'s phone {PHONE}")
    except ValueError:
        logging.getLogger("rasa.core.processor").exception("action failed")
    written = log_output.getvalue()
    assert "ValueError" in written and "test_log_redaction.py" in written
    assert NAME not in written and "555-0178" not in written


def test_the_operating_systems_own_error_words_stay(log_output):
    try:
        raise OSError(98, "Address already in use")
    except OSError:
        logging.getLogger("sanic.error").exception("Unable to start server")
    assert "Address already in use" in log_output.getvalue()


def test_an_exception_logged_as_the_message_is_reduced_to_its_type(log_output):
    logging.getLogger("sanic.error").error(ValueError(f"bad body from {NAME}"))
    written = log_output.getvalue()
    assert "ValueError" in written and NAME not in written


def test_a_very_long_library_line_is_cut_before_it_is_scrubbed():
    scrubbed = scrub("x " * 100_000)
    assert len(scrubbed) <= log_redaction.MAX_SCRUBBED_CHARS + 10
