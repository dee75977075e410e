"""The staff commands: export a CSV/JSON a counselor can open, and the waiting queue in order."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from bot.leads.database import make_engine, upgrade
from bot.leads.store import LeadStore
from bot.leads.submission import HandoffPriority, HandoffRequest, Submission
from bot.settings import PROJECT_ROOT
from tests.test_leads_database import finished_prescreen


@pytest.fixture
def leads_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = LeadStore(engine)
    store.apply(finished_prescreen("conv-1", phone="+13125550142", name="Sam"))
    store.apply(Submission("conv-2", "rest",
                           handoff=HandoffRequest("crisis", HandoffPriority.CRISIS)))
    engine.dispose()
    return {"DATABASE_URL": url, "VAR_DIR": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}


def run_cli(env, *args) -> str:
    result = subprocess.run([sys.executable, "-m", "bot.leads", *args], env=env, cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_csv_export_has_the_lead_with_its_consents_and_handoff(leads_env, tmp_path):
    out = tmp_path / "leads.csv"
    run_cli(leads_env, "export", "--format", "csv", "--out", str(out), "--staff", "dana")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 1
    assert (rows[0]["first_name"], rows[0]["phone"], rows[0]["substances"],
            rows[0]["handoff_status"], rows[0]["consent_privacy"]) == (
        "Sam", "+13125550142", "alcohol", "waiting", "True")


def test_json_export(leads_env):
    rows = json.loads(run_cli(leads_env, "export", "--format", "json"))
    assert [r["care_route"] for r in rows] == ["detox_first"]


def test_handoff_queue_lists_crisis_first(leads_env):
    lines = run_cli(leads_env, "handoffs", "list").splitlines()
    assert lines[0] == "2 waiting"
    assert "crisis" in lines[1] and "prescreen_complete" in lines[2]
    # The conversation id `resume` needs is in the queue.
    assert all(" conversation " in line for line in lines[1:])


def test_a_handoff_that_does_not_exist_is_an_error_not_a_traceback(leads_env):
    result = subprocess.run([sys.executable, "-m", "bot.leads", "handoffs", "claim", "no-such-id"],
                            env=leads_env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "no handoff no-such-id"


def test_an_export_file_is_readable_by_its_owner_only(leads_env, tmp_path):
    out = tmp_path / "leads.csv"
    out.write_text("")
    out.chmod(0o644)
    run_cli(leads_env, "export", "--out", str(out))
    assert out.stat().st_mode & 0o777 == 0o600


def test_an_export_to_a_file_says_what_it_wrote(leads_env, tmp_path):
    out = tmp_path / "leads.csv"
    result = subprocess.run([sys.executable, "-m", "bot.leads", "export", "--out", str(out)],
                            env=leads_env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    rows = out.read_text(encoding="utf-8").splitlines()[1:]
    assert result.stderr.strip() == f"{len(rows)} lead(s) written to {out} (readable by you only)"


def test_old_twilio_message_ids_can_be_forgotten_and_recent_ones_are_kept(leads_env):
    from bot.messaging.store import MessagingStore

    store = MessagingStore(make_engine(leads_env["DATABASE_URL"]))
    store.first_delivery("SM-today", "twilio_sms")
    assert "0 handled message id(s) older than 7 days removed" in run_cli(
        leads_env, "forget-deliveries")
    assert store.first_delivery("SM-today", "twilio_sms") is False  # still recognised
    assert "1 handled message id(s)" in run_cli(leads_env, "forget-deliveries", "--days", "-1")


# What a parent typed, question by question; the form stores what `next_move` reads from it.
TYPED = {
    "ps_for_whom": "it's for my son", "ps_first_name": "I'm Maria", "ps_age": "he's 24",
    "ps_location": "Springfield IL 62701", "ps_substances": "mostly booze and some xanax",
    "ps_use_pattern": "1", "ps_withdrawal": "2", "ps_mental_health": "1",
    "ps_insurance": "he has BCBS", "ps_phone": "312-555-0142 maria@example.com",
    "ps_contact_prefs": "evenings, no voicemail please", "ps_consent": "yes, I agree",
}


def slots_a_finished_prescreen_stores() -> dict:
    from bot.prescreen import questions as q

    slots = {}
    for question in q.QUESTIONS:
        move = q.next_move(question, q.Message(TYPED[question]), 0, q.AnswerContext())
        assert move.kind == "answer", (question, move)
        slots[question] = move.value
    return {**slots, "ps_consent_shown_at": "2026-12-01T15:00:00+00:00"}


def test_every_export_column_shows_what_a_real_prescreen_wrote(action_leads_store, tmp_path):
    import asyncio
    import datetime as dt

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from bot.actions.prescreen import ActionPrescreenFinish
    from bot.leads.store import EXPORT_COLUMNS
    from bot.settings import load_settings

    tracker = Tracker(sender_id="conv-maria", slots=slots_a_finished_prescreen_stores(),
                      latest_message={}, events=[{"event": "user", "input_channel": "rest"}],
                      paused=False, followup_action=None, active_loop={},
                      latest_action_name="action_listen")
    asyncio.run(ActionPrescreenFinish().run(CollectingDispatcher(), tracker, {}))
    (lead_id,) = [r["lead_id"] for r in action_leads_store().export_rows(actor="test")]

    expected = {
        "lead_id": lead_id, "channel": "rest", "status": "complete", "for_whom": "loved_one",
        "relationship": "parent", "first_name": "Maria", "phone": "+13125550142",
        "email": "maria@example.com", "state": "IL", "zip_code": "62701", "age_group": "adult",
        "substances": ["alcohol", "benzodiazepines"],
        "insurance_carrier": "Blue Cross Blue Shield", "care_route": "detox_first",
        "care_reasons": ["daily alcohol and benzodiazepines use with withdrawal symptoms now"],
        "best_time": "evenings", "voicemail_ok": False, "text_ok": None, "discreet": False,
        "handoff_status": "waiting", "consent_contact": True, "consent_privacy": True,
        "phone_verified": False, "possible_duplicate_of": None,
    }
    env = {"DATABASE_URL": load_settings().database_url, "VAR_DIR": str(tmp_path),
           "PYTHONPATH": str(PROJECT_ROOT)}
    (row,) = json.loads(run_cli(env, "export", "--format", "json"))
    assert list(row) == list(EXPORT_COLUMNS)
    for stamp in ("created_at", "updated_at"):
        written = dt.datetime.fromisoformat(row.pop(stamp))
        assert abs(dt.datetime.now(dt.timezone.utc) - written.replace(
            tzinfo=written.tzinfo or dt.timezone.utc)) < dt.timedelta(minutes=5)
    for column, value in expected.items():
        assert row[column] == value, column
    assert set(row) == set(expected)

    out = tmp_path / "leads.csv"
    run_cli(env, "export", "--format", "csv", "--out", str(out))
    with out.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == EXPORT_COLUMNS
        (cells,) = list(reader)
    as_csv = {"substances": "alcohol; benzodiazepines", "email": "maria@example.com",
              "care_reasons": expected["care_reasons"][0], "voicemail_ok": "False",
              "text_ok": "", "discreet": "False", "consent_contact": "True",
              "consent_privacy": "True", "phone_verified": "False", "possible_duplicate_of": ""}
    for column, value in expected.items():
        assert cells[column] == as_csv.get(column, value), column


def test_the_queue_and_the_export_flag_a_number_already_on_another_lead(leads_env):
    from bot.leads.database import make_engine
    from bot.leads.store import LeadStore

    engine = make_engine(leads_env["DATABASE_URL"])
    # Someone else types Sam's number on the website and asks for a person.
    LeadStore(engine).apply(finished_prescreen("conv-3", phone="+13125550142", name="Alex"))
    engine.dispose()
    exported = json.loads(run_cli(leads_env, "export", "--format", "json"))
    rows = {r["first_name"]: r for r in exported}
    assert rows["Sam"]["possible_duplicate_of"] is None
    assert rows["Alex"]["possible_duplicate_of"] == rows["Sam"]["lead_id"]
    queue = run_cli(leads_env, "handoffs", "list").splitlines()
    (alex,) = [line for line in queue if "Alex" in line]
    assert f"possible duplicate of lead {rows['Sam']['lead_id']}" in alex
    (sam,) = [line for line in queue if "Sam" in line]
    assert "duplicate" not in sam
