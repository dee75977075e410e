"""A lead is never lost: with the database down it waits on disk and lands exactly once later."""
from __future__ import annotations

import os

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.leads.database import make_engine
from bot.leads.recording import LeadRecorder
from bot.leads.schema import Handoff, Lead
from bot.leads.spool import LeadSpool
from bot.leads.store import LeadStore
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
        queue = session.execute(select(Handoff.conversation_id).order_by(Handoff.created_at)).scalars()
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
