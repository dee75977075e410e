"""The handoff desk behind the staff console: accounts, claim races, reassign, resolve, audit.

Runs on SQLite and on the real PostgreSQL server (the `leads_engine` fixture)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.leads.schema import AuditEvent, Handoff
from bot.leads.store import LeadStore
from bot.leads.submission import HandoffPriority, HandoffRequest, LeadDetails, Submission
from bot.prescreen.questions import QUESTIONS
from bot.staff.desk import Refused, StaffDesk, question_order, readable_answer


def handoff(store: LeadStore, name: str = "Jordan", priority=HandoffPriority.ROUTINE,
            conversation: str | None = None, channel: str = "website") -> str:
    applied = store.apply(Submission(
        conversation_id=conversation or f"conv-{name}", channel=channel,
        lead=LeadDetails(status="complete", first_name=name, phone_e164="+13125550142",
                         answers={"ps_first_name": name, "ps_substances": ["alcohol"],
                                  "ps_use_pattern": {"daily": True, "last_24h": False}}),
        handoff=HandoffRequest("prescreen_complete", priority)))
    return applied.handoff_id


@pytest.fixture
def desk(leads_engine):
    return StaffDesk(leads_engine, "America/Chicago")


@pytest.fixture
def store(leads_engine):
    return LeadStore(leads_engine)


def account(desk: StaffDesk, name: str, role: str = "counselor"):
    desk.add_user(name, role)
    return next(a for a in desk.accounts() if a.username == name)


def audit_rows(engine) -> list[tuple[str, str, str, str | None]]:
    with Session(engine) as session:
        return [(a.actor, a.action, a.entity, a.entity_id) for a in session.scalars(
            select(AuditEvent).order_by(AuditEvent.id))]


def test_a_new_account_signs_in_only_with_its_one_time_password_and_must_change_it(desk):
    password = desk.add_user("dana", "counselor", "Dana")
    assert desk.authenticate("dana", "wrong password") is None
    signed_in = desk.authenticate("Dana", password)
    assert signed_in.must_change_password and signed_in.display_name == "Dana"
    desk.change_password(signed_in.id, "a much longer secret")
    assert desk.authenticate("dana", password) is None
    assert not desk.authenticate("dana", "a much longer secret").must_change_password


def test_a_disabled_account_cannot_sign_in_and_a_reset_ends_its_sessions(desk):
    password = desk.add_user("sam", "counselor")
    before = desk.account(desk.authenticate("sam", password).id).sessions_valid_after
    desk.set_disabled("sam", True)
    assert desk.authenticate("sam", password) is None
    desk.set_disabled("sam", False)
    new_password = desk.reset_password("sam")
    assert desk.authenticate("sam", password) is None
    after = desk.authenticate("sam", new_password)
    assert after.must_change_password and after.sessions_valid_after > before


def test_the_first_admin_is_made_once(desk):
    first = desk.ensure_first_admin()
    assert first is not None and first[0] == "admin"
    assert desk.authenticate("admin", first[1]).is_admin
    assert desk.ensure_first_admin() is None


def test_bad_usernames_and_roles_and_a_second_account_of_one_name_are_refused(desk):
    desk.add_user("dana", "counselor")
    for name, role in (("dana", "counselor"), ("<script>", "counselor"), ("x", "counselor"),
                       ("lee", "superuser")):
        with pytest.raises(Refused):
            desk.add_user(name, role)


def test_the_queue_puts_a_crisis_first_then_priority_then_the_longest_wait(desk, store):
    routine_old = handoff(store, "Old", HandoffPriority.ROUTINE)
    detox = handoff(store, "Detox", HandoffPriority.DETOX_FIRST)
    crisis = handoff(store, "Crisis", HandoffPriority.CRISIS)
    routine_new = handoff(store, "New", HandoffPriority.ROUTINE)
    dana = account(desk, "dana")
    assert [row.handoff_id for row in desk.queue(dana)] == [crisis, detox, routine_old,
                                                          routine_new]
    assert desk.queue(dana)[0].first_name == "Crisis"


def test_two_counselors_claiming_at_once_one_wins_and_the_other_is_told_who(desk, store):
    handoff_id = handoff(store)
    dana, sam = account(desk, "dana"), account(desk, "sam")
    start = threading.Barrier(2)
    outcomes = {}

    def claim(who):
        start.wait()
        outcomes[who.username] = desk.claim(handoff_id, who)

    threads = [threading.Thread(target=claim, args=(who,)) for who in (dana, sam)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, outcome in outcomes.items() if outcome.won]
    assert len(winners) == 1
    winner = winners[0].title()
    assert all(outcome.holder == winner for outcome in outcomes.values())
    assert [row.handoff_id for row in desk.queue(dana, "waiting")] == []
    mine = desk.queue(dana if winners == ["dana"] else sam, "mine")
    assert [row.handoff_id for row in mine] == [handoff_id]


def test_claims_in_a_tight_race_never_give_one_handoff_to_two(desk, store):
    counselors = [account(desk, f"c{i}") for i in range(6)]
    for round_number in range(5):
        handoff_id = handoff(store, f"Person{round_number}",
                             conversation=f"race-{round_number}")
        start = threading.Barrier(len(counselors))
        wins = []

        def claim(who, handoff_id=handoff_id, start=start, wins=wins):
            start.wait()
            if desk.claim(handoff_id, who).won:
                wins.append(who.username)

        threads = [threading.Thread(target=claim, args=(who,)) for who in counselors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(wins) == 1


def test_only_an_admin_reassigns_and_only_the_holder_resolves(desk, store):
    handoff_id = handoff(store)
    dana, sam, boss = account(desk, "dana"), account(desk, "sam"), account(desk, "boss", "admin")
    desk.claim(handoff_id, dana)
    with pytest.raises(Refused):
        desk.reassign(handoff_id, "sam", dana)
    desk.reassign(handoff_id, "sam", boss)
    assert desk.handoff_row(handoff_id).claimed_by == "sam"
    with pytest.raises(Refused):
        desk.resolve(handoff_id, dana, "admitted", "", hand_back=True)
    desk.resolve(handoff_id, sam, "assessment_booked", "Dec 4, 10:00 AM", hand_back=True)
    row = desk.handoff_row(handoff_id)
    assert (row.status, row.disposition) == ("resolved", "assessment_booked")
    assert [r.handoff_id for r in desk.queue(sam, "resolved_today")] == [handoff_id]


def test_a_disposition_needs_its_detail(desk, store):
    handoff_id = handoff(store)
    dana = account(desk, "dana")
    desk.claim(handoff_id, dana)
    for disposition, detail in (("assessment_booked", ""), ("referred", "  "),
                                ("unreachable", "three"), ("made_up", "x")):
        with pytest.raises(Refused):
            desk.resolve(handoff_id, dana, disposition, detail, hand_back=False)
    desk.resolve(handoff_id, dana, "unreachable", "3", hand_back=False)
    with Session(desk.engine) as session:
        row = session.get(Handoff, handoff_id)
        assert (row.disposition_detail, row.handed_back, row.resolved_by) == ("3", False, "dana")


def test_every_read_and_change_is_audited_with_who_and_what_but_no_data(desk, store):
    handoff_id = handoff(store)
    dana = account(desk, "dana")
    desk.queue(dana)
    desk.claim(handoff_id, dana)
    desk.handoff_detail(handoff_id, dana)
    desk.add_note(handoff_id, dana, "Prefers a call after 5; mother answers the phone")
    desk.resolve(handoff_id, dana, "admitted", "", hand_back=False)
    trail = [row for row in audit_rows(desk.engine) if row[0] == "staff:dana"]
    assert [(action, entity) for _, action, entity, _ in trail] == [
        ("read", "handoff_queue"), ("claimed", "handoff"), ("read", "handoff"),
        ("read", "lead"), ("add_note", "handoff"), ("resolve:admitted", "handoff")]
    assert "mother" not in repr(audit_rows(desk.engine))


def test_the_detail_reads_the_prescreen_as_words_and_finds_possible_duplicates(desk, store):
    first = handoff(store, "Jordan", conversation="one")
    handoff(store, "Jo", conversation="two")  # the same typed phone number
    dana = account(desk, "dana")
    detail = desk.handoff_detail(first, dana)
    assert ("Substances", "alcohol") in detail.answers
    assert ("Use", "daily: yes, in the last 24 hours: no") in detail.answers
    assert [d.first_name for d in detail.duplicates] == ["Jo"]
    assert detail.opted_out is False


def test_search_finds_leads_by_name_or_phone_digits_and_treats_wildcards_as_text(desk, store):
    handoff(store, "Jordan", conversation="one")
    dana = account(desk, "dana")
    assert [lead.first_name for lead in desk.search_leads(dana, "jord")] == ["Jordan"]
    assert [lead.first_name for lead in desk.search_leads(dana, "555-0142")] == ["Jordan"]
    assert desk.search_leads(dana, "%") == []
    assert desk.search_leads(dana, "' OR 1=1 --") == []


def test_only_an_admin_reads_the_audit_trail_or_changes_canned_replies(desk):
    dana, boss = account(desk, "dana"), account(desk, "boss", "admin")
    with pytest.raises(Refused):
        desk.audit_trail(dana)
    with pytest.raises(Refused):
        desk.add_canned_reply(dana, "Hello", "Hi, I'm Dana")
    desk.add_canned_reply(boss, "Hello", "Thanks for waiting, I'm Dana, an admissions counselor")
    assert [c.title for c in desk.canned_replies()] == ["Hello"]
    assert desk.audit_trail(boss)


def test_the_answer_labels_follow_the_prescreens_questions_in_order():
    assert question_order() == list(QUESTIONS)


def test_answers_read_as_words():
    assert readable_answer(["alcohol", "opioids"]) == "alcohol; opioids"
    assert readable_answer({"for_whom": "loved_one", "relationship": "son"}) == (
        "for: someone they care about, relationship: son")
    assert readable_answer(True) == "yes"
