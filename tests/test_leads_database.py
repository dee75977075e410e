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
from bot.leads.submission import ConsentGiven, HandoffRequest, LeadDetails, Submission

TABLES = {"leads", "prescreen_answers", "consents", "handoffs", "audit_events"}
SHOWN_AT = "2026-11-23T08:00:00+00:00"


def finished_prescreen(conversation_id="conv-1", phone="+13125550142", name="Sam", **extra):
    details = dict(
        status="complete", for_whom="self", first_name=name, phone_e164=phone, state="IL",
        age_group="adult", insurance_carrier="Aetna", care_route="detox_first",
        care_reasons=("daily alcohol use with withdrawal symptoms now",),
        answers={"substances": ["alcohol"], "uses_daily": True, "state": "IL"},
        consents=(ConsentGiven("contact", True, "contact-v1", SHOWN_AT),
                  ConsentGiven("privacy", True, "privacy-v1", SHOWN_AT)),
    )
    details.update(extra)
    return Submission(conversation_id=conversation_id, channel="rest",
                      lead=LeadDetails(**details),
                      handoff=HandoffRequest("prescreen_complete", 1))


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
        assert answers["substances"] == '["alcohol"]'
        consents = session.execute(select(Consent)).scalars().all()
        assert {(c.kind, c.granted, c.wording_version, c.channel) for c in consents} == {
            ("contact", True, "contact-v1", "rest"), ("privacy", True, "privacy-v1", "rest")}
        assert all(c.recorded_at.isoformat().startswith("2026-11-23T08:00") for c in consents)
        handoff = session.get(Handoff, applied.handoff_id)
        assert (handoff.status, handoff.priority, handoff.lead_id) == (WAITING, 1, lead.id)


def test_the_same_phone_coming_back_updates_the_lead_instead_of_duplicating_it(leads_engine):
    store = LeadStore(leads_engine)
    first = store.apply(finished_prescreen("conv-1", state="IL"))
    second = store.apply(finished_prescreen("conv-2", state="WI", email="sam@example.com"))
    assert first.lead_id == second.lead_id
    assert count(leads_engine, Lead) == 1
    with Session(leads_engine, future=True) as session:
        lead = session.get(Lead, first.lead_id)
        assert (lead.state, lead.email, lead.conversation_id) == ("WI", "sam@example.com", "conv-2")


def test_applying_the_same_submission_twice_changes_nothing(leads_engine):
    store = LeadStore(leads_engine)
    submission = finished_prescreen()
    store.apply(submission)
    again = store.apply(submission)
    assert not again.handoff_is_new
    assert [count(leads_engine, m) for m in (Lead, PrescreenAnswer, Consent, Handoff)] == [1, 3, 2, 1]


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
    routine = store.apply(Submission("a", "rest", handoff=HandoffRequest("request_human", 3),
                                     submitted_at=early)).handoff_id
    urgent = store.apply(Submission("b", "rest", handoff=HandoffRequest("crisis", 0),
                                    submitted_at=late)).handoff_id
    detox = store.apply(finished_prescreen("c")).handoff_id
    assert [h.handoff_id for h in store.waiting_queue(actor="staff:test")] == [urgent, detox, routine]

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
    first = store.apply(Submission("a", "rest", handoff=HandoffRequest("request_human", 3)))
    second = store.apply(Submission("a", "rest", handoff=HandoffRequest("crisis", 0)))
    assert second.handoff_id == first.handoff_id and not second.handoff_is_new
    assert store.waiting_queue(actor="staff:test")[0].priority == 0


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
    assert (row["first_name"], row["substances"], row["handoff_status"], row["consent_contact"]) == (
        "Sam", ["alcohol"], WAITING, True)
    with Session(leads_engine, future=True) as session:
        assert session.execute(select(AuditEvent).where(AuditEvent.action == "export")).first()


def test_twenty_simultaneous_prescreens_make_twenty_leads_with_their_own_answers(leads_engine):
    store = LeadStore(leads_engine)
    errors: list[BaseException] = []

    def finish(n: int) -> None:
        try:
            store.apply(finished_prescreen(f"conv-{n}", phone=f"+1312555{n:04d}", name=f"Person{n}",
                                           answers={"substances": [f"substance-{n}"]}))
        except BaseException as error:  # surfaced by the assertion below
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
    with pytest.raises(IntegrityError) as failure:
        with Session(engine, future=True) as session, session.begin():
            for lead_id in ("x", "y"):
                session.add(Lead(id=lead_id, channel="rest", conversation_id=lead_id,
                                 status="complete", created_at=now, updated_at=now,
                                 first_name="Zebediah", phone_e164="+13125550142"))
    assert "Zebediah" not in str(failure.value) and "5550142" not in str(failure.value)
    assert "parameters hidden" in str(failure.value)
    engine.dispose()
