"""The staff commands: export a CSV/JSON a counselor can open, and the waiting queue in order."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from bot.leads.database import make_engine, upgrade
from bot.leads.store import LeadStore
from bot.leads.submission import HandoffRequest, Submission
from bot.settings import PROJECT_ROOT
from tests.test_leads_database import finished_prescreen


@pytest.fixture
def leads_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = LeadStore(engine)
    store.apply(finished_prescreen("conv-1", phone="+13125550142", name="Sam"))
    store.apply(Submission("conv-2", "rest", handoff=HandoffRequest("crisis", 0)))
    engine.dispose()
    return {"DATABASE_URL": url, "VAR_DIR": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}


def run_cli(env, *args) -> str:
    result = subprocess.run([sys.executable, "-m", "bot.leads", *args], env=env, cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60)
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


def test_old_twilio_message_ids_can_be_forgotten_and_recent_ones_are_kept(leads_env):
    from bot.messaging.store import MessagingStore

    store = MessagingStore(make_engine(leads_env["DATABASE_URL"]))
    store.first_delivery("SM-today", "twilio_sms")
    assert "0 handled message id(s) older than 7 days removed" in run_cli(
        leads_env, "forget-deliveries")
    assert store.first_delivery("SM-today", "twilio_sms") is False  # still recognised
    assert "1 handled message id(s)" in run_cli(leads_env, "forget-deliveries", "--days", "-1")
