"""The leads database, on SQLite and on the real PostgreSQL server: what a counselor finds."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from bot.leads.crypto import MemberIdCipher
from bot.leads.database import downgrade, make_engine, upgrade
from bot.leads.schema import AuditEvent, Consent, Handoff, Lead, PrescreenAnswer
from bot.leads.store import CLAIMED, RESOLVED, WAITING, LeadStore
from bot.leads.submission import (
    ConsentGiven,
    HandoffPriority,
    HandoffRequest,
    LeadDetails,
    Submission,
)
from bot.prescreen import questions as q

TABLES = {"leads", "prescreen_answers", "consents", "handoffs", "audit_events"}
SHOWN_AT = "2026-11-23T08:00:00+00:00"


def finished_prescreen(conversation_id="conv-1", phone="+13125550142", name="Sam", **extra):
    details = {
        "status": "complete", "for_whom": "self", "first_name": name, "phone_e164": phone,
        "state": "IL", "age_group": "adult", "insurance_carrier": "Aetna",
        "care_route": "detox_first",
        "care_reasons": ("daily alcohol use with withdrawal symptoms now",),
        "answers": {q.SUBSTANCES: ["alcohol"], q.USE_PATTERN: {"daily": True, "last_24h": True},
                    q.LOCATION: {"state": "IL", "zip": None}},
        "consents": (ConsentGiven("contact", True, "contact-v1", SHOWN_AT),
                     ConsentGiven("privacy", True, "privacy-v1", SHOWN_AT)),
    }
    details.update(extra)
    return Submission(conversation_id=conversation_id, channel="rest",
                      lead=LeadDetails(**details),
                      handoff=HandoffRequest("prescreen_complete", HandoffPriority.DETOX_FIRST))


def count(engine, model) -> int:
    with Session(engine, future=True) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_migrations_create_every_table_from_empty_and_downgrade_removes_them(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    downgrade(engine)
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)  # and back up again on the same database
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_finished_prescreen_becomes_a_lead_with_answers_consents_and_a_waiting_handoff(
    leads_engine,
):
    applied = LeadStore(leads_engine).apply(finished_prescreen())
    assert applied.handoff_is_new
    with Session(leads_engine, future=True) as session:
        lead = session.get(Lead, applied.lead_id)
        assert (lead.first_name, lead.phone_e164, lead.state, lead.status) == (
            "Sam", "+13125550142", "IL", "complete")
        answers = {a.question: a.answer for a in session.execute(select(PrescreenAnswer)).scalars()}
        assert answers[q.SUBSTANCES] == '["alcohol"]'
        consents = session.execute(select(Consent)).scalars().all()
        assert {(c.kind, c.granted, c.wording_version, c.channel) for c in consents} == {
            ("contact", True, "contact-v1", "rest"), ("privacy", True, "privacy-v1", "rest")}
        assert all(c.recorded_at.isoformat().startswith("2026-11-23T08:00") for c in consents)
        handoff = session.get(Handoff, applied.handoff_id)
        assert (handoff.status, handoff.priority, handoff.lead_id) == (WAITING, 1, lead.id)


def lead_row(engine, lead_id) -> Lead:
    with Session(engine, future=True) as session:
        lead = session.get(Lead, lead_id)
        session.expunge(lead)
        return lead


def test_the_same_conversation_coming_back_updates_its_lead(leads_engine):
    store = LeadStore(leads_engine)
    first = store.apply(finished_prescreen("conv-1", state="IL"))
    second = store.apply(finished_prescreen("conv-1", state="WI", email="sam@example.com"))
    assert first.lead_id == second.lead_id and count(leads_engine, Lead) == 1
    assert (lead_row(leads_engine, first.lead_id).state, lead_row(leads_engine, first.lead_id).email
            ) == ("WI", "sam@example.com")


def test_a_typed_phone_never_takes_over_another_conversations_lead(leads_engine):
    """A website visitor types someone else's number: a new lead, flagged, the other untouched."""
    store = LeadStore(leads_engine)
    sam = store.apply(finished_prescreen("conv-sam", name="Sam")).lead_id
    other = store.apply(finished_prescreen(
        "conv-web", name="Mallory", state="WI",
        answers={q.SUBSTANCES: ["cocaine"]})).lead_id
    assert other != sam and count(leads_engine, Lead) == 2
    kept = lead_row(leads_engine, sam)
    assert (kept.first_name, kept.state, kept.conversation_id, kept.possible_duplicate_of) == (
        "Sam", "IL", "conv-sam", None)
    flagged = lead_row(leads_engine, other)
    assert (flagged.first_name, flagged.phone_e164, flagged.possible_duplicate_of) == (
        "Mallory", "+13125550142", sam)
    rows = {r["lead_id"]: r for r in store.export_rows(actor="staff:test")}
    assert rows[sam]["substances"] == ["alcohol"] and rows[other]["substances"] == ["cocaine"]
    assert rows[other]["possible_duplicate_of"] == sam


def test_a_number_the_phone_channel_saw_joins_its_conversations_into_one_lead(leads_engine):
    """SMS and voice from one number: two conversations, one lead."""
    store = LeadStore(leads_engine)
    call = store.apply(Submission("voice-1", "twilio_voice", LeadDetails(
        status="incomplete", first_name="Robin", phone_e164="+13125550142",
        phone_verified=True))).lead_id
    text = store.apply(Submission("sms-1", "twilio_sms", LeadDetails(
        status="incomplete", phone_e164="+13125550142", phone_verified=True),
        handoff=HandoffRequest("request_human", HandoffPriority.ROUTINE))).lead_id
    assert text == call and count(leads_engine, Lead) == 1
    lead = lead_row(leads_engine, call)
    assert (lead.first_name, lead.channel, lead.conversation_id, lead.phone_verified) == (
        "Robin", "twilio_sms", "sms-1", True)
    # A website visitor typing that number is not that person's conversation.
    typed = store.apply(finished_prescreen("conv-web", name="Mallory")).lead_id
    assert typed != call and lead_row(leads_engine, typed).possible_duplicate_of == call
    assert lead_row(leads_engine, call).first_name == "Robin"


def test_applying_the_same_submission_twice_changes_nothing(leads_engine):
    store = LeadStore(leads_engine)
    submission = finished_prescreen()
    store.apply(submission)
    again = store.apply(submission)
    assert not again.handoff_is_new
    tables = (Lead, PrescreenAnswer, Consent, Handoff)
    assert [count(leads_engine, m) for m in tables] == [1, 3, 2, 1]


def test_a_stopped_prescreen_is_kept_as_incomplete_and_a_later_finish_completes_it(leads_engine):
    store = LeadStore(leads_engine)
    partial = Submission("conv-9", "rest", LeadDetails(status="incomplete", for_whom="loved_one",
                                                      relationship="parent", first_name="Alex"))
    lead_id = store.apply(partial).lead_id
    finished = store.apply(finished_prescreen("conv-9", name="Alex")).lead_id
    assert finished == lead_id
    with Session(leads_engine, future=True) as session:
        lead = session.get(Lead, lead_id)
        assert (lead.status, lead.relationship) == ("complete", "parent")


def test_member_id_is_encrypted_at_rest_and_readable_with_the_key(leads_engine):
    cipher = MemberIdCipher(Fernet.generate_key().decode())
    store = LeadStore(leads_engine, cipher)
    lead_id = store.apply(finished_prescreen(member_id="W123456789")).lead_id
    with leads_engine.connect() as connection:
        raw = connection.execute(text("SELECT member_id_encrypted FROM leads")).scalar_one()
    assert b"W123456789" not in bytes(raw)
    assert store.member_id_of(lead_id, actor="staff:test") == "W123456789"


def test_member_id_is_not_stored_at_all_without_a_key(leads_engine):
    lead_id = LeadStore(leads_engine).apply(finished_prescreen(member_id="W123456789")).lead_id
    with Session(leads_engine, future=True) as session:
        assert session.get(Lead, lead_id).member_id_encrypted is None


def test_queue_is_most_urgent_first_then_oldest_and_moves_waiting_claimed_resolved(leads_engine):
    store = LeadStore(leads_engine)
    early = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc).isoformat()
    late = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone.utc).isoformat()
    routine = store.apply(Submission(
        "a", "rest", handoff=HandoffRequest("request_human", HandoffPriority.ROUTINE),
        submitted_at=early)).handoff_id
    urgent = store.apply(Submission("b", "rest",
                                    handoff=HandoffRequest("crisis", HandoffPriority.CRISIS),
                                    submitted_at=late)).handoff_id
    detox = store.apply(finished_prescreen("c")).handoff_id
    queue = store.waiting_queue(actor="staff:test")
    assert [h.handoff_id for h in queue] == [urgent, detox, routine]

    store.claim(urgent, staff="staff:dana")
    assert [h.handoff_id for h in store.waiting_queue(actor="staff:test")] == [detox, routine]
    with pytest.raises(ValueError):
        store.claim(urgent, staff="staff:lee")  # already taken: no double claim
    store.resolve(urgent, staff="staff:dana")
    with Session(leads_engine, future=True) as session:
        handoff = session.get(Handoff, urgent)
        assert (handoff.status, handoff.claimed_by) == (RESOLVED, "staff:dana")
        assert handoff.claimed_at <= handoff.resolved_at
        trail = session.execute(select(AuditEvent.actor, AuditEvent.action)
                                .where(AuditEvent.entity_id == urgent)).all()
        assert ("staff:dana", CLAIMED) in trail and ("staff:dana", RESOLVED) in trail


def test_a_second_request_in_the_same_conversation_reuses_the_open_handoff(leads_engine):
    store = LeadStore(leads_engine)
    first = store.apply(Submission(
        "a", "rest", handoff=HandoffRequest("request_human", HandoffPriority.ROUTINE)))
    second = store.apply(Submission("a", "rest",
                                    handoff=HandoffRequest("crisis", HandoffPriority.CRISIS)))
    assert second.handoff_id == first.handoff_id and not second.handoff_is_new
    assert store.waiting_queue(actor="staff:test")[0].priority is HandoffPriority.CRISIS


def test_export_has_one_row_per_lead_with_the_columns_staff_need(leads_engine):
    store = LeadStore(leads_engine)
    store.apply(finished_prescreen("a", phone="+13125550142"))
    store.apply(finished_prescreen("b", phone="+13125550143", name="Jo"))
    rows = list(store.export_rows(actor="staff:test"))
    assert len(rows) == 2
    row = rows[0]
    assert {"lead_id", "created_at", "updated_at", "channel", "for_whom", "first_name", "phone",
            "email", "state", "age_group", "substances", "insurance_carrier", "care_route",
            "handoff_status", "consent_contact", "consent_privacy"} <= set(row)
    assert (row["first_name"], row["substances"], row["handoff_status"],
            row["consent_contact"]) == (
        "Sam", ["alcohol"], WAITING, True)
    with Session(leads_engine, future=True) as session:
        assert session.execute(select(AuditEvent).where(AuditEvent.action == "export")).first()


def test_twenty_simultaneous_prescreens_make_twenty_leads_with_their_own_answers(leads_engine):
    store = LeadStore(leads_engine)
    errors: list[Exception] = []

    def finish(n: int) -> None:
        try:
            store.apply(finished_prescreen(f"conv-{n}", phone=f"+1312555{n:04d}", name=f"Person{n}",
                                           answers={q.SUBSTANCES: [f"substance-{n}"]}))
        except Exception as error:  # noqa: BLE001 (surfaced by the assertion below)
            errors.append(error)

    threads = [threading.Thread(target=finish, args=(n,)) for n in range(100, 120)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(store.export_rows(actor="staff:test"))
    assert len(rows) == 20
    for row in rows:
        n = int(row["first_name"].removeprefix("Person"))
        assert row["phone"] == f"+1312555{n:04d}"
        assert row["substances"] == [f"substance-{n}"]


def test_sqlalchemy_errors_hide_the_persons_details(tmp_path):
    # PostgreSQL's own DETAIL line can still name a key value, which is why the recorder logs
    # only an error's type; this checks the part SQLAlchemy controls.
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(f"sqlite:///{tmp_path / 'leads.db'}")
    upgrade(engine)
    now = dt.datetime.now(dt.timezone.utc)
    with (pytest.raises(IntegrityError) as failure, Session(engine, future=True) as session,
          session.begin()):
        for lead_id in ("x", "y"):
            session.add(Lead(id=lead_id, channel="rest", conversation_id=lead_id,
                             status="complete", created_at=now, updated_at=now,
                             first_name="Zebediah", phone_e164="+13125550142",
                             phone_verified=True))
    assert "Zebediah" not in str(failure.value) and "5550142" not in str(failure.value)
    assert "parameters hidden" in str(failure.value)
    engine.dispose()


# --- the file, the schema bootstrap and migration 0003 -------------------------------------

def test_a_new_sqlite_leads_file_is_private_from_the_moment_it_exists(tmp_path):
    import os

    os.umask(0o022)  # SQLite alone would create the file 0644
    path = tmp_path / "var" / "leads.db"
    engine = make_engine(f"sqlite:///{path}")
    assert os.stat(path).st_mode & 0o777 == 0o600  # before SQLAlchemy has connected
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    upgrade(engine)
    LeadStore(engine).apply(finished_prescreen())
    for file in path.parent.iterdir():  # the database, and SQLite's -wal and -shm beside it
        assert os.stat(file).st_mode & 0o777 == 0o600, file.name
    engine.dispose()


def test_the_schema_is_migrated_once_per_engine_however_many_callers_ask(tmp_path, monkeypatch):
    """The recorder, the messaging store and the staff commands share one bootstrap."""
    from bot.leads import database
    from bot.leads.recording import recorder_from_settings
    from bot.messaging.store import messaging_store_for
    from bot.settings import load_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'leads.db'}")
    monkeypatch.setenv("LEAD_SPOOL_DIR", str(tmp_path / "spool"))
    migrations = []
    real_upgrade = database.upgrade

    def counted_upgrade(engine, revision="head"):
        migrations.append(engine)
        real_upgrade(engine, revision)

    monkeypatch.setattr(database, "upgrade", counted_upgrade)
    settings = load_settings()
    recorder = recorder_from_settings(settings)
    threads = [threading.Thread(target=recorder.record, args=(finished_prescreen(f"c{n}"),))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messaging = messaging_store_for(settings.database_url)
    messaging.remember_contact("twilio_sms-1", "twilio_sms", "+13125550142")
    messaging.is_opted_out("+13125550142")
    assert len(migrations) == 1
    assert len({id(engine) for engine in migrations}) == 1
    assert count(recorder.store.engine, Lead) == 8


def _insert_0002_rows(engine) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        for lead_id, conversation, channel, phone in (
                ("L-sms", "S1", "twilio_sms", "+13125550142"),
                ("L-web", "W1", "rest", "+13125550143")):
            connection.execute(text(
                "INSERT INTO leads (id, created_at, updated_at, channel, conversation_id, status,"
                " first_name, phone_e164) VALUES (:id, :now, :now, :channel, :conv, 'complete',"
                " 'Sam', :phone)"), {"id": lead_id, "now": now, "channel": channel,
                                     "conv": conversation, "phone": phone})
            connection.execute(text(
                "INSERT INTO prescreen_answers (lead_id, question, answer, answered_at)"
                " VALUES (:id, 'ps_substances', :answer, :now)"),
                {"id": lead_id, "now": now, "answer": '["alcohol"]'})
            connection.execute(text(
                "INSERT INTO consents (lead_id, kind, granted, wording_version, channel,"
                " recorded_at) VALUES (:id, 'contact', :yes, 'v1', 'rest', :now)"),
                {"id": lead_id, "now": now, "yes": True})
        connection.execute(text(
            "INSERT INTO conversation_contacts (conversation_id, channel, phone_e164,"
            " first_seen_at) VALUES ('S1', 'twilio_sms', '+13125550142', :now)"), {"now": now})


def _phone_is_unique(engine) -> bool:
    from sqlalchemy.exc import IntegrityError

    now = dt.datetime.now(dt.timezone.utc)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO leads (id, created_at, updated_at, channel, conversation_id, status,"
                " phone_e164) VALUES ('L-probe', :now, :now, 'rest', 'P1', 'incomplete',"
                " '+13125550143')"), {"now": now})
            raise _RolledBack
    except IntegrityError:
        return True
    except _RolledBack:
        return False


class _RolledBack(Exception):
    pass


def test_migration_0003_keeps_every_lead_and_answer_both_ways(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0002")
    _insert_0002_rows(engine)
    assert _phone_is_unique(engine)

    upgrade(engine, "0003")
    assert not _phone_is_unique(engine)  # a typed number may now appear on two leads
    assert {"ix_leads_phone_e164", "uq_leads_verified_phone"} <= {
        index["name"] for index in inspect(engine).get_indexes("leads")}
    with Session(engine, future=True) as session:
        leads = {lead.id: lead for lead in session.execute(select(Lead)).scalars()}
        # SQLite rebuilds the table: nothing cascades away with the old one.
        assert (count(engine, PrescreenAnswer), count(engine, Consent)) == (2, 2)
    # Written on the SMS channel with that channel's number: verified all along.
    assert (leads["L-sms"].phone_verified, leads["L-web"].phone_verified) == (True, False)
    assert leads["L-sms"].possible_duplicate_of is None

    downgrade(engine, "0002")
    assert "phone_verified" not in {c["name"] for c in inspect(engine).get_columns("leads")}
    assert _phone_is_unique(engine)
    assert (count(engine, Lead), count(engine, PrescreenAnswer), count(engine, Consent)) == (
        2, 2, 2)
    engine.dispose()


def test_migration_0003_will_not_downgrade_over_leads_sharing_a_number(leads_engine):
    store = LeadStore(leads_engine)
    store.apply(finished_prescreen("conv-1"))
    store.apply(finished_prescreen("conv-2"))  # the same typed number: two leads
    with pytest.raises(RuntimeError, match="1 phone number"):
        downgrade(leads_engine, "0002")
    assert count(leads_engine, Lead) == 2
