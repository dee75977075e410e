"""A lead is never lost: with the database down it waits on disk and lands exactly once later."""
from __future__ import annotations

import asyncio
import dataclasses
import os

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.leads.database import make_engine
from bot.leads.recording import LeadRecorder, recorder_from_settings
from bot.leads.schema import Handoff, Lead
from bot.leads.spool import LeadSpool, peer_spools
from bot.leads.store import LeadStore
from bot.settings import load_settings
from tests.test_leads_database import finished_prescreen

# Nothing listens on port 1: connecting fails at once, as with a database that is down.
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/leads"


def lead_count(engine) -> int:
    with Session(engine, future=True) as session:
        return session.execute(select(func.count()).select_from(Lead)).scalar_one()


def test_database_down_then_up_the_lead_lands_exactly_once(tmp_path, empty_database_url, caplog):
    spool = LeadSpool(tmp_path / "spool")
    down = LeadRecorder(LeadStore(make_engine(UNREACHABLE)), spool)
    assert down.record(finished_prescreen("conv-1")) == []  # spooled, no exception
    assert "spooled" in caplog.text and "Sam" not in caplog.text and "5550142" not in caplog.text
    assert len(spool.pending()) == 1
    assert oct(os.stat(spool.pending()[0]).st_mode & 0o777) == "0o600"

    database = make_engine(empty_database_url)
    up = LeadRecorder(LeadStore(database), spool)
    written = up.flush()
    assert len(written) == 1 and written[0].handoff_is_new
    assert spool.pending() == []
    assert lead_count(database) == 1
    assert up.flush() == []
    assert lead_count(database) == 1
    database.dispose()


def test_the_timed_retry_waits_quietly_while_down_then_lands_the_lead_once(
        tmp_path, empty_database_url, caplog):
    spool = LeadSpool(tmp_path / "spool")
    down = LeadRecorder(LeadStore(make_engine(UNREACHABLE)), spool)
    down.record(finished_prescreen("conv-1"))
    assert down.retry_spooled() == []  # still down: no exception, the lead stays on disk
    assert len(spool.pending()) == 1 and "Sam" not in caplog.text

    database = make_engine(empty_database_url)
    up = LeadRecorder(LeadStore(database), spool)
    assert len(up.retry_spooled()) == 1
    assert up.retry_spooled() == [] and spool.pending() == []
    assert lead_count(database) == 1
    database.dispose()


def test_the_next_lead_carries_the_spooled_ones_in_oldest_first(tmp_path, empty_database_url):
    spool = LeadSpool(tmp_path / "spool")
    down = LeadRecorder(LeadStore(make_engine(UNREACHABLE)), spool)
    down.record(finished_prescreen("conv-1", phone="+13125550101"))
    down.record(finished_prescreen("conv-2", phone="+13125550102"))

    database = make_engine(empty_database_url)
    written = LeadRecorder(LeadStore(database), spool).record(
        finished_prescreen("conv-3", phone="+13125550103"))
    assert len(written) == 3
    with Session(database, future=True) as session:
        queue = session.execute(
            select(Handoff.conversation_id).order_by(Handoff.created_at)).scalars()
        assert list(queue) == ["conv-1", "conv-2", "conv-3"]
    assert spool.pending() == []
    database.dispose()


def test_a_crash_after_writing_but_before_deleting_the_file_does_not_duplicate(tmp_path):
    database = make_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    spool = LeadSpool(tmp_path / "spool")
    submission = finished_prescreen()
    spool.put(submission)
    recorder = LeadRecorder(LeadStore(database), spool)
    recorder.ensure_schema()
    recorder.store.apply(submission)  # written, then "crashed" before the file was removed
    recorder.flush()
    assert lead_count(database) == 1
    with Session(database, future=True) as session:
        assert session.execute(select(func.count()).select_from(Handoff)).scalar_one() == 1


def test_an_unreadable_spool_file_is_set_aside_not_deleted(tmp_path):
    spool = LeadSpool(tmp_path / "spool")
    spool.directory.mkdir()
    (spool.directory / "2026-broken.json").write_text("{not json", encoding="utf-8")
    recorder = LeadRecorder(LeadStore(make_engine(f"sqlite:///{tmp_path / 'leads.db'}")), spool)
    assert recorder.flush() == []
    assert (spool.directory / "2026-broken.unreadable").exists()


# --- what lies on disk ---------------------------------------------------------------------

def test_spool_files_are_private_from_the_moment_they_exist(tmp_path, monkeypatch):
    os.umask(0o022)  # the usual default: files 0644 unless created otherwise
    modes = []
    real_replace = os.replace

    def replace_and_note_mode(source, target):
        modes.append(os.stat(source).st_mode & 0o777)  # the temporary, before its rename
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_and_note_mode)
    spool = LeadSpool(tmp_path / "var" / "spool")
    final = spool.put(finished_prescreen())
    assert modes == [0o600]
    assert os.stat(final).st_mode & 0o777 == 0o600
    assert os.stat(spool.directory).st_mode & 0o777 == 0o700


def test_a_member_id_is_never_in_the_spool_in_plain_text(tmp_path, empty_database_url):
    from cryptography.fernet import Fernet

    from bot.leads.crypto import MemberIdCipher

    cipher = MemberIdCipher(Fernet.generate_key().decode())
    spool = LeadSpool(tmp_path / "spool")
    down = LeadRecorder(LeadStore(make_engine(UNREACHABLE)), spool, cipher)
    assert down.record(finished_prescreen(member_id="W123456789")) == []
    (spooled,) = spool.pending()
    assert b"W123456789" not in spooled.read_bytes()

    database = make_engine(empty_database_url)
    up = LeadRecorder(LeadStore(database, cipher), spool, cipher)
    (written,) = up.flush()
    assert up.store.member_id_of(written.lead_id, actor="staff:test") == "W123456789"
    database.dispose()


def test_without_a_key_a_member_id_is_not_spooled_at_all(tmp_path):
    spool = LeadSpool(tmp_path / "spool")
    LeadRecorder(LeadStore(make_engine(UNREACHABLE)), spool).record(
        finished_prescreen(member_id="W123456789"))
    (spooled,) = spool.pending()
    assert b"W123456789" not in spooled.read_bytes()


# --- a database that fails in any way ------------------------------------------------------

def test_a_database_url_that_cannot_even_be_parsed_spools_the_lead(tmp_path, monkeypatch):
    from bot.leads.recording import recorder_from_settings
    from bot.settings import load_settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:notaport/leads")
    monkeypatch.setenv("LEAD_SPOOL_DIR", str(tmp_path / "spool"))
    assert recorder_from_settings(load_settings()).record(finished_prescreen()) == []
    assert len(LeadSpool(tmp_path / "spool").pending()) == 1


def test_any_failure_while_writing_spools_the_lead(tmp_path, monkeypatch):
    store = LeadStore(make_engine(f"sqlite:///{tmp_path / 'leads.db'}"))
    monkeypatch.setattr(store, "apply", lambda submission: 1 / 0)
    spool = LeadSpool(tmp_path / "spool")
    assert LeadRecorder(store, spool).record(finished_prescreen()) == []
    assert len(spool.pending()) == 1


def test_a_password_with_percent_signs_does_not_stop_leads_being_written(tmp_path):
    """Alembic's ConfigParser used to read '%' in the URL's password as interpolation."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_ADMIN_URL, _throwaway_postgres_database

    url, drop = _throwaway_postgres_database()
    role = f"leads_pct_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'p%40ss%word'"))
        connection.execute(text(f'ALTER DATABASE "{make_url(url).database}" OWNER TO {role}'))
    try:
        with_password = make_url(url).set(username=role, password="p%40ss%word")
        rendered = with_password.render_as_string(hide_password=False)
        assert "%" in rendered.split("@")[0]
        spool = LeadSpool(tmp_path / "spool")
        database = make_engine(rendered)
        written = LeadRecorder(LeadStore(database), spool).record(finished_prescreen())
        assert len(written) == 1 and spool.pending() == []
        assert lead_count(database) == 1
        database.dispose()
    finally:
        drop()
        with admin.connect() as connection:
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


# --- several processes, one spool ----------------------------------------------------------

DRAINER = """
import json, os, sys, time
from pathlib import Path
from bot.leads.database import make_engine
from bot.leads.spool import LeadSpool
from bot.leads.store import LeadStore

url, spool_dir, go = sys.argv[1:4]
store = LeadStore(make_engine(url))
while not os.path.exists(go):
    time.sleep(0.005)
print(json.dumps([a.submission_id for a in LeadSpool(Path(spool_dir)).drain(store)]))
"""


def test_two_processes_draining_one_spool_write_each_submission_exactly_once(
    tmp_path, empty_database_url
):
    import json
    import subprocess
    import sys

    from bot.leads.database import ensure_schema
    from bot.settings import PROJECT_ROOT

    database = make_engine(empty_database_url)
    ensure_schema(database)
    spool = LeadSpool(tmp_path / "spool")
    spooled = [finished_prescreen(f"conv-{n}", phone=f"+1312555{n:04d}") for n in range(40)]
    for submission in spooled:
        spool.put(submission)
    go = tmp_path / "go"
    drainers = [subprocess.Popen([sys.executable, "-c", DRAINER, empty_database_url,
                                  str(spool.directory), str(go)], cwd=PROJECT_ROOT,
                                 env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    import time

    time.sleep(3)  # both interpreters started and waiting
    go.touch()
    outputs = [drainer.communicate(timeout=120) for drainer in drainers]
    assert [d.returncode for d in drainers] == [0, 0], [err[-2000:] for _, err in outputs]
    applied = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert not set(applied[0]) & set(applied[1])  # no submission applied by both
    assert sorted(applied[0] + applied[1]) == sorted(s.submission_id for s in spooled)
    assert spool.pending() == []
    with Session(database, future=True) as session:
        per_conversation = session.execute(
            select(Lead.conversation_id, func.count()).group_by(Lead.conversation_id)).all()
        handoffs = session.execute(select(func.count()).select_from(Handoff)).scalar_one()
    assert sorted(per_conversation) == sorted((f"conv-{n}", 1) for n in range(40))
    assert handoffs == 40
    database.dispose()


def test_a_lead_spooled_by_an_instance_that_is_gone_is_landed_once_by_another(
        tmp_path, empty_database_url):
    # Instance a spooled a lead while the database was down, then was stopped for good.
    spools = tmp_path / "spools"
    gone = LeadRecorder(LeadStore(make_engine(UNREACHABLE)), LeadSpool(spools / "a"))
    gone.record(finished_prescreen("conv-of-a"))
    assert len(LeadSpool(spools / "a").pending()) == 1

    # Instance b, draining its peers (LEAD_SPOOL_PEERS=<spools>/*), lands it on its timer.
    database = make_engine(empty_database_url)
    settings = dataclasses.replace(load_settings(), database_url=empty_database_url,
                                   lead_spool_dir=spools / "b",
                                   lead_spool_peers=(str(spools / "*"),))
    b = recorder_from_settings(settings)
    assert [applied.handoff_is_new for applied in b.retry_spooled()] == [True]
    assert LeadSpool(spools / "a").pending() == []
    assert b.retry_spooled() == []
    assert lead_count(database) == 1
    database.dispose()


def test_without_peers_an_instance_leaves_other_spools_alone(tmp_path, empty_database_url):
    spools = tmp_path / "spools"
    LeadRecorder(LeadStore(make_engine(UNREACHABLE)), LeadSpool(spools / "a")).record(
        finished_prescreen("conv-of-a"))
    settings = dataclasses.replace(load_settings(), database_url=empty_database_url,
                                   lead_spool_dir=spools / "b", lead_spool_peers=())
    assert recorder_from_settings(settings).retry_spooled() == []
    assert len(LeadSpool(spools / "a").pending()) == 1


def test_peer_spools_are_the_matching_directories_but_ones_own(tmp_path):
    for name in ("lead-spool-a", "lead-spool-b", "lead-spool-c"):
        (tmp_path / name).mkdir()
    (tmp_path / "lead-spool-file").write_text("not a directory")
    found = peer_spools((str(tmp_path / "lead-spool-*"), str(tmp_path / "lead-spool-c")),
                        tmp_path / "lead-spool-b")
    assert [spool.directory.name for spool in found] == ["lead-spool-a", "lead-spool-c"]


def test_a_peer_spool_that_cannot_be_drained_keeps_no_other_lead_waiting(
        tmp_path, empty_database_url):
    spools = tmp_path / "spools"
    (spools / "aa").mkdir(parents=True)
    (spools / "aa" / ".drain.lock").mkdir()  # its lock cannot be opened
    (spools / "aa" / "x.json").write_text("{}")
    LeadRecorder(LeadStore(make_engine(UNREACHABLE)), LeadSpool(spools / "zz")).record(
        finished_prescreen("conv-of-zz"))
    settings = dataclasses.replace(load_settings(), database_url=empty_database_url,
                                   lead_spool_dir=spools / "b",
                                   lead_spool_peers=(str(spools / "*"),))
    assert len(recorder_from_settings(settings).retry_spooled()) == 1  # never raises
    assert LeadSpool(spools / "zz").pending() == []


def test_staff_are_texted_about_a_handoff_landed_from_a_spool(
        tmp_path, empty_database_url, monkeypatch):
    from bot.handoff import service

    spool = LeadSpool(tmp_path / "spool")
    LeadRecorder(LeadStore(make_engine(UNREACHABLE)), spool).record(
        finished_prescreen("conv-1"))
    texted = []
    monkeypatch.setattr(service, "notify_staff_in_background",
                        lambda handoff_id, priority: texted.append(priority.name))
    settings = dataclasses.replace(load_settings(), database_url=empty_database_url,
                                   lead_spool_dir=spool.directory)
    monkeypatch.setattr(service, "load_settings", lambda: settings)
    assert len(asyncio.run(service.land_spooled())) == 1
    assert texted == ["DETOX_FIRST"]


def test_the_flush_spool_command_lands_every_spool_and_texts_staff(
        tmp_path, empty_database_url, monkeypatch, capsys):
    from bot.handoff import service
    from bot.leads.__main__ import main

    spools = tmp_path / "spools"
    LeadRecorder(LeadStore(make_engine(UNREACHABLE)), LeadSpool(spools / "a")).record(
        finished_prescreen("conv-of-a"))
    texted = []
    monkeypatch.setattr(service, "notify_staff_in_background",
                        lambda handoff_id, priority: texted.append(priority.name))
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setenv("LEAD_SPOOL_DIR", str(spools / "b"))
    monkeypatch.setenv("LEAD_SPOOL_PEERS", str(spools / "*"))
    assert main(["flush-spool"]) in (0, None)
    assert "1 spooled submission(s) written, 0 waiting" in capsys.readouterr().out
    assert texted == ["DETOX_FIRST"]
    assert LeadSpool(spools / "a").pending() == []
