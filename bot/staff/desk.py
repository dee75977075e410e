"""The handoff desk: what admissions staff read and change in the leads database.

Rasa-free and web-free, so the console, the CLI and the tests share one set of rules. Every
method is synchronous and quick (the console calls them through `asyncio.to_thread`), runs in
a Session of its own, and writes an audit row for every read of a person's record and every
change (who, what, when; never the data itself), as 42 CFR Part 2 expects.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.leads.schema import (
    AuditEvent,
    CannedReply,
    Consent,
    Handoff,
    Lead,
    PrescreenAnswer,
    SmsOptOut,
    StaffContact,
    StaffNote,
    StaffUser,
    utc_now,
)
from bot.leads.store import CLAIMED, OPEN_STATUSES, RESOLVED, WAITING
from bot.leads.submission import HandoffPriority
from bot.staff.dispositions import BY_CODE, detail_problem
from bot.staff.passwords import hash_password, one_time_password, password_matches

ROLES = ("counselor", "admin")
QUEUE_FILTERS = ("waiting", "mine", "open", "resolved_today")
ANSWER_LABELS_PATH = Path(__file__).with_name("answer_labels.yml")
MAX_NOTE_LENGTH = 4000
MAX_SEARCH_RESULTS = 200
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


class NotFound(LookupError):
    pass


class Refused(ValueError):
    """The change cannot be made; the message says why, in words for staff."""


def actor_of(username: str) -> str:
    """Who an audit row names: the same form the CLI uses."""
    return f"staff:{username}"


@dataclass(frozen=True)
class StaffAccount:
    id: str
    username: str
    display_name: str
    role: str
    must_change_password: bool
    disabled: bool
    sessions_valid_after: dt.datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        return actor_of(self.username)


@dataclass(frozen=True)
class QueueRow:
    handoff_id: str
    priority: HandoffPriority
    reason: str
    status: str
    channel: str
    conversation_id: str
    created_at: dt.datetime
    claimed_by: str | None
    claimed_by_name: str | None
    lead_id: str | None
    first_name: str | None
    care_route: str | None
    best_time: str | None
    possible_duplicate_of: str | None
    resolved_at: dt.datetime | None = None
    disposition: str | None = None


@dataclass(frozen=True)
class ClaimOutcome:
    won: bool
    # Who has it now (their display name), when someone does.
    holder: str | None
    status: str


@dataclass(frozen=True)
class ConsentRecord:
    kind: str
    granted: bool
    wording_version: str
    channel: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class LeadSummary:
    lead_id: str
    created_at: dt.datetime
    channel: str
    status: str
    first_name: str | None
    phone_e164: str | None
    email: str | None


@dataclass(frozen=True)
class NoteRecord:
    author: str
    body: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ContactRecord:
    staff: str
    kind: str
    channel: str
    outcome: str
    reason: str | None
    at: dt.datetime


@dataclass(frozen=True)
class HandoffDetail:
    handoff: QueueRow
    phone_e164: str | None
    phone_verified: bool
    email: str | None
    state: str | None
    answers: list[tuple[str, str]]
    care_reasons: list[str]
    consents: list[ConsentRecord]
    # None when no phone number is known.
    opted_out: bool | None
    duplicates: list[LeadSummary]
    notes: list[NoteRecord]
    contacts: list[ContactRecord]
    disposition_detail: str | None = None
    handed_back: bool | None = None
    lead_status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CannedReplyRecord:
    id: int
    title: str
    body: str


@dataclass(frozen=True)
class AuditRecord:
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None


@lru_cache(maxsize=1)
def answer_labels() -> dict[str, dict[str, str]]:
    return yaml.safe_load(ANSWER_LABELS_PATH.read_text(encoding="utf-8"))


def question_order() -> list[str]:
    return list(answer_labels()["questions"])


def readable_answer(value: Any) -> str:
    """A stored answer as a counselor reads it: lists joined, yes/no for booleans, parts named."""
    parts = answer_labels()["parts"]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "not given"
    if isinstance(value, list):
        return "; ".join(readable_answer(item) for item in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{parts.get(key, key.replace('_', ' '))}: {readable_answer(item)}"
                         for key, item in value.items() if item is not None) or "not given"
    return answer_labels().get("values", {}).get(value, str(value))


class StaffDesk:
    def __init__(self, engine: Engine, timezone: str = "UTC"):
        self.engine = engine
        self.zone = ZoneInfo(timezone)

    def _session(self) -> Session:
        return Session(self.engine, future=True)

    @staticmethod
    def _audit(session: Session, actor: str, action: str, entity: str,
               entity_id: str | None = None) -> None:
        session.add(AuditEvent(actor=actor, action=action, entity=entity,
                               entity_id=(entity_id or "")[:36] or None))

    # --- accounts -----------------------------------------------------------------------------

    def add_user(self, username: str, role: str, display_name: str | None = None,
                 actor: str = "staff:cli") -> str:
        """Creates an account and returns its one-time password (changed at first login)."""
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise Refused("A username is 2 to 32 lower-case letters, digits, '.', '_' or '-'.")
        if role not in ROLES:
            raise Refused(f"The role is one of: {', '.join(ROLES)}.")
        name = (display_name or username.split(".")[0]).strip()[:64].title()
        password = one_time_password()
        try:
            with self._session() as session, session.begin():
                user = StaffUser(username=username, display_name=name, role=role,
                                 password_hash=hash_password(password),
                                 must_change_password=True, disabled=False,
                                 sessions_valid_after=utc_now())
                session.add(user)
                session.flush()
                self._audit(session, actor, "create", "staff_user", user.id)
        except IntegrityError as error:
            raise Refused(f"There is already an account named {username}.") from error
        return password

    def ensure_first_admin(self) -> tuple[str, str] | None:
        """On a console with no accounts yet, an admin with a one-time password to print once."""
        with self._session() as session:
            if session.scalar(select(func.count()).select_from(StaffUser)):
                return None
        try:
            return "admin", self.add_user("admin", "admin", "Admin", actor="staff:setup")
        except Refused:  # another process made it at the same moment
            return None

    def set_disabled(self, username: str, disabled: bool, actor: str = "staff:cli") -> None:
        with self._session() as session, session.begin():
            user = self._user_named(session, username)
            user.disabled = disabled
            # Disabling ends every open session at once.
            user.sessions_valid_after = utc_now()
            self._audit(session, actor, "disable" if disabled else "enable", "staff_user",
                        user.id)

    def reset_password(self, username: str, actor: str = "staff:cli") -> str:
        password = one_time_password()
        with self._session() as session, session.begin():
            user = self._user_named(session, username)
            user.password_hash = hash_password(password)
            user.must_change_password = True
            user.sessions_valid_after = utc_now()
            self._audit(session, actor, "reset_password", "staff_user", user.id)
        return password

    def authenticate(self, username: str, password: str) -> StaffAccount | None:
        """The account when the password is right and the account enabled; None otherwise."""
        with self._session() as session, session.begin():
            user = session.scalar(select(StaffUser).where(
                StaffUser.username == username.strip().lower()[:64]))
            matches = password_matches(user.password_hash if user else None, password)
            if user is None:
                return None
            self._audit(session, actor_of(user.username),
                        "login" if matches and not user.disabled else "login_failed",
                        "staff_user", user.id)
            return _account(user) if matches and not user.disabled else None

    def change_password(self, user_id: str, new_password: str) -> None:
        with self._session() as session, session.begin():
            user = session.get(StaffUser, user_id)
            if user is None:
                raise NotFound(user_id)
            user.password_hash = hash_password(new_password)
            user.must_change_password = False
            # Every other session (a stolen cookie, a forgotten tab) ends with the old password.
            user.sessions_valid_after = utc_now()
            self._audit(session, actor_of(user.username), "change_password", "staff_user",
                        user.id)

    def end_sessions(self, user_id: str) -> None:
        """Signing out ends the account's sessions on the server, not only this cookie."""
        with self._session() as session, session.begin():
            user = session.get(StaffUser, user_id)
            if user is not None:
                user.sessions_valid_after = utc_now()
                self._audit(session, actor_of(user.username), "logout", "staff_user", user.id)

    def account(self, user_id: str) -> StaffAccount | None:
        with self._session() as session:
            user = session.get(StaffUser, user_id)
            return _account(user) if user else None

    def accounts(self) -> list[StaffAccount]:
        with self._session() as session:
            return [_account(user) for user in session.scalars(
                select(StaffUser).order_by(StaffUser.username))]

    @staticmethod
    def _user_named(session: Session, username: str) -> StaffUser:
        user = session.scalar(select(StaffUser).where(
            StaffUser.username == username.strip().lower()))
        if user is None:
            raise NotFound(username)
        return user

    # --- the queue ----------------------------------------------------------------------------

    def queue(self, staff: StaffAccount, which: str = "waiting") -> list[QueueRow]:
        """Crisis first, then priority, then the longest wait; audited as a read of the queue."""
        if which not in QUEUE_FILTERS:
            which = "waiting"
        claimer = StaffUser.__table__.alias("claimer")
        query = (select(Handoff, Lead, claimer.c.display_name)
                 .outerjoin(Lead, Handoff.lead_id == Lead.id)
                 .outerjoin(claimer, claimer.c.username == Handoff.claimed_by))
        if which == "waiting":
            query = query.where(Handoff.status == WAITING)
        elif which == "mine":
            query = query.where(Handoff.status == CLAIMED, Handoff.claimed_by == staff.username)
        elif which == "open":
            query = query.where(Handoff.status.in_(OPEN_STATUSES))
        else:
            start = dt.datetime.now(self.zone).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
            query = query.where(Handoff.status == RESOLVED,
                                Handoff.resolved_at >= start.astimezone(dt.timezone.utc))
        query = query.order_by(Handoff.priority, Handoff.created_at)
        with self._session() as session, session.begin():
            rows = [_queue_row(handoff, lead, name)
                    for handoff, lead, name in session.execute(query)]
            self._audit(session, staff.actor, "read", "handoff_queue")
            return rows

    def queue_fingerprint(self) -> tuple:
        """Changes whenever an open handoff comes, goes, moves up or changes hands: what the
        live queue page watches. Reads no person's details, so it is not audited."""
        with self._session() as session:
            open_rows = session.execute(
                select(Handoff.id, Handoff.status, Handoff.priority, Handoff.claimed_by)
                .where(Handoff.status.in_(OPEN_STATUSES)).order_by(Handoff.id)).all()
            resolved = session.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.status == RESOLVED))
        return tuple(tuple(row) for row in open_rows) + (("resolved", resolved),)

    def waiting_ids(self) -> set[str]:
        with self._session() as session:
            return set(session.scalars(select(Handoff.id).where(Handoff.status == WAITING)))

    def claim(self, handoff_id: str, staff: StaffAccount) -> ClaimOutcome:
        """Atomic: of two counselors claiming at once, one wins; the other learns who has it."""
        with self._session() as session, session.begin():
            # One conditional UPDATE, so the database decides the race on SQLite and on
            # PostgreSQL alike (a read, then a write, would let both win).
            won = session.execute(
                update(Handoff).where(Handoff.id == handoff_id, Handoff.status == WAITING)
                .values(status=CLAIMED, claimed_by=staff.username, claimed_at=utc_now())
                .execution_options(synchronize_session=False)).rowcount == 1
            if won:
                self._audit(session, staff.actor, CLAIMED, "handoff", handoff_id)
        return ClaimOutcome(won, *self._holder(handoff_id))

    def reassign(self, handoff_id: str, to_username: str, admin: StaffAccount) -> None:
        if not admin.is_admin:
            raise Refused("Only an admin can reassign a handoff.")
        with self._session() as session, session.begin():
            target = self._user_named(session, to_username)
            if target.disabled:
                raise Refused(f"{target.display_name}'s account is disabled.")
            moved = session.execute(
                update(Handoff).where(Handoff.id == handoff_id,
                                      Handoff.status.in_(OPEN_STATUSES))
                .values(status=CLAIMED, claimed_by=target.username, claimed_at=utc_now())
                .execution_options(synchronize_session=False)).rowcount
            if not moved:
                raise Refused("That handoff is not open any more.")
            self._audit(session, admin.actor, f"reassign:{target.username}"[:32], "handoff",
                        handoff_id)

    def resolve(self, handoff_id: str, staff: StaffAccount, disposition: str, detail: str,
                hand_back: bool) -> None:
        problem = detail_problem(disposition, detail)
        if problem:
            raise Refused(problem)
        with self._session() as session, session.begin():
            conditions = [Handoff.id == handoff_id, Handoff.status == CLAIMED]
            if not staff.is_admin:
                conditions.append(Handoff.claimed_by == staff.username)
            done = session.execute(
                update(Handoff).where(*conditions)
                .values(status=RESOLVED, resolved_at=utc_now(), resolved_by=staff.username,
                        disposition=disposition,
                        disposition_detail=detail.strip()[:200] if BY_CODE[disposition]
                        .detail_label else None, handed_back=hand_back)
                .execution_options(synchronize_session=False)).rowcount
            if not done:
                raise Refused("Only the counselor who has this handoff can resolve it, and only "
                              "while it is open.")
            self._audit(session, staff.actor, f"resolve:{disposition}"[:32], "handoff",
                        handoff_id)

    def _holder(self, handoff_id: str) -> tuple[str | None, str]:
        with self._session() as session:
            row = session.execute(
                select(Handoff.status, StaffUser.display_name, Handoff.claimed_by)
                .outerjoin(StaffUser, StaffUser.username == Handoff.claimed_by)
                .where(Handoff.id == handoff_id)).first()
        if row is None:
            raise NotFound(handoff_id)
        status, name, username = row
        return (name or username), status

    def require_holder(self, handoff_id: str, staff: StaffAccount) -> QueueRow:
        """The handoff, when `staff` has claimed it (the only one who may write to the person)."""
        row = self.handoff_row(handoff_id)
        if row.status != CLAIMED or row.claimed_by != staff.username:
            holder = row.claimed_by_name or row.claimed_by
            raise Refused("Claim this handoff before writing to the person." if row.status ==
                          WAITING else f"{holder} has this handoff." if row.status == CLAIMED
                          else "This handoff is resolved.")
        return row

    def handoff_row(self, handoff_id: str) -> QueueRow:
        with self._session() as session:
            found = session.execute(
                select(Handoff, Lead, StaffUser.display_name)
                .outerjoin(Lead, Handoff.lead_id == Lead.id)
                .outerjoin(StaffUser, StaffUser.username == Handoff.claimed_by)
                .where(Handoff.id == handoff_id)).first()
        if found is None:
            raise NotFound(handoff_id)
        return _queue_row(*found)

    # --- one handoff, in full -----------------------------------------------------------------

    def handoff_detail(self, handoff_id: str, staff: StaffAccount) -> HandoffDetail:
        """Everything a counselor reads about one handoff; audited as a read of the lead."""
        row = self.handoff_row(handoff_id)
        with self._session() as session, session.begin():
            lead = session.get(Lead, row.lead_id) if row.lead_id else None
            answers = _answers_of(session, row.lead_id)
            consents = [ConsentRecord(c.kind, c.granted, c.wording_version, c.channel,
                                      c.recorded_at) for c in session.scalars(
                select(Consent).where(Consent.lead_id == row.lead_id)
                .order_by(Consent.recorded_at))] if row.lead_id else []
            phone = lead.phone_e164 if lead else None
            opted_out = (session.get(SmsOptOut, phone) is not None) if phone else None
            duplicates = _duplicates_of(session, lead) if lead else []
            notes = [NoteRecord(n.author, n.body, n.created_at) for n in session.scalars(
                select(StaffNote).where(or_(StaffNote.handoff_id == handoff_id,
                                            StaffNote.lead_id == row.lead_id)
                                        if row.lead_id else StaffNote.handoff_id == handoff_id)
                .order_by(StaffNote.created_at))]
            contacts = [ContactRecord(c.staff, c.kind, c.channel, c.outcome, c.reason, c.at)
                        for c in session.scalars(select(StaffContact).where(
                            StaffContact.handoff_id == handoff_id).order_by(StaffContact.at))]
            handoff = session.get(Handoff, handoff_id)
            self._audit(session, staff.actor, "read", "handoff", handoff_id)
            if row.lead_id:
                self._audit(session, staff.actor, "read", "lead", row.lead_id)
            return HandoffDetail(
                handoff=row, phone_e164=phone,
                phone_verified=bool(lead and lead.phone_verified),
                email=lead.email if lead else None, state=lead.state if lead else None,
                answers=answers,
                care_reasons=json.loads(lead.care_reasons) if lead and lead.care_reasons else [],
                consents=consents, opted_out=opted_out, duplicates=duplicates, notes=notes,
                contacts=contacts, disposition_detail=handoff.disposition_detail,
                handed_back=handoff.handed_back, lead_status=lead.status if lead else None)

    def phone_and_state(self, handoff_id: str) -> tuple[str | None, str | None]:
        """Where an SMS reply goes, and the state whose hours apply (no audit: the reply is)."""
        with self._session() as session:
            row = session.execute(select(Lead.phone_e164, Lead.state).join(
                Handoff, Handoff.lead_id == Lead.id).where(Handoff.id == handoff_id)).first()
        return (row[0], row[1]) if row else (None, None)

    def add_note(self, handoff_id: str, staff: StaffAccount, body: str) -> None:
        body = body.strip()
        if not body:
            raise Refused("A note needs some words.")
        if len(body) > MAX_NOTE_LENGTH:
            raise Refused(f"A note is limited to {MAX_NOTE_LENGTH} characters.")
        row = self.handoff_row(handoff_id)
        with self._session() as session, session.begin():
            session.add(StaffNote(lead_id=row.lead_id, handoff_id=handoff_id,
                                  author=staff.display_name, body=body))
            self._audit(session, staff.actor, "add_note", "handoff", handoff_id)

    def record_contact(self, handoff_id: str, staff: StaffAccount, kind: str, channel: str,
                       outcome: str, reason: str | None = None) -> None:
        with self._session() as session, session.begin():
            session.add(StaffContact(handoff_id=handoff_id, staff=staff.username, kind=kind,
                                     channel=channel, outcome=outcome[:32],
                                     reason=(reason or None) and reason[:120]))
            self._audit(session, staff.actor, f"{kind}:{outcome}"[:32], "handoff", handoff_id)

    def audit(self, staff: StaffAccount, action: str, entity: str,
              entity_id: str | None = None) -> None:
        with self._session() as session, session.begin():
            self._audit(session, staff.actor, action, entity, entity_id)

    # --- canned replies -----------------------------------------------------------------------

    def canned_replies(self) -> list[CannedReplyRecord]:
        with self._session() as session:
            return [CannedReplyRecord(c.id, c.title, c.body) for c in session.scalars(
                select(CannedReply).order_by(CannedReply.title))]

    def add_canned_reply(self, admin: StaffAccount, title: str, body: str) -> None:
        if not admin.is_admin:
            raise Refused("Only an admin can change canned replies.")
        title, body = title.strip(), body.strip()
        if not title or not body or len(title) > 80 or len(body) > 1000:
            raise Refused("A canned reply needs a title (up to 80 characters) and a text (up "
                          "to 1,000).")
        with self._session() as session, session.begin():
            reply = CannedReply(title=title, body=body, created_by=admin.username)
            session.add(reply)
            session.flush()
            self._audit(session, admin.actor, "create", "canned_reply", str(reply.id))

    def delete_canned_reply(self, admin: StaffAccount, reply_id: int) -> None:
        if not admin.is_admin:
            raise Refused("Only an admin can change canned replies.")
        with self._session() as session, session.begin():
            reply = session.get(CannedReply, reply_id)
            if reply is not None:
                session.delete(reply)
                self._audit(session, admin.actor, "delete", "canned_reply", str(reply_id))

    # --- leads and the audit trail ------------------------------------------------------------

    def search_leads(self, staff: StaffAccount, text: str = "",
                     on_date: dt.date | None = None) -> list[LeadSummary]:
        """Leads by first name, phone (any part of its digits) or the day they came in."""
        query = select(Lead).order_by(Lead.created_at.desc()).limit(MAX_SEARCH_RESULTS)
        text = text.strip()[:64]
        if text:
            digits = re.sub(r"\D", "", text)
            conditions = [func.lower(Lead.first_name).contains(text.lower(), autoescape=True)]
            if len(digits) >= 3:
                conditions.append(Lead.phone_e164.contains(digits, autoescape=True))
            query = query.where(or_(*conditions))
        if on_date is not None:
            start = dt.datetime.combine(on_date, dt.time(), self.zone)
            query = query.where(Lead.created_at >= start.astimezone(dt.timezone.utc),
                                Lead.created_at < (start + dt.timedelta(days=1))
                                .astimezone(dt.timezone.utc))
        with self._session() as session, session.begin():
            found = [_lead_summary(lead) for lead in session.scalars(query)]
            self._audit(session, staff.actor, "search", "leads")
            return found

    def handoffs_of_lead(self, lead_id: str) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(Handoff.id).where(Handoff.lead_id == lead_id)
                                        .order_by(Handoff.created_at.desc())))

    def audit_trail(self, admin: StaffAccount, limit: int = 200,
                    offset: int = 0) -> list[AuditRecord]:
        if not admin.is_admin:
            raise Refused("Only an admin can read the audit trail.")
        with self._session() as session, session.begin():
            rows = [AuditRecord(a.at, a.actor, a.action, a.entity, a.entity_id)
                    for a in session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())
                                             .limit(limit).offset(offset))]
            self._audit(session, admin.actor, "read", "audit_trail")
            return rows


def _account(user: StaffUser) -> StaffAccount:
    return StaffAccount(user.id, user.username, user.display_name, user.role,
                        bool(user.must_change_password), bool(user.disabled),
                        _aware(user.sessions_valid_after))


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes for what was stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment


def _queue_row(handoff: Handoff, lead: Lead | None, claimer_name: str | None) -> QueueRow:
    return QueueRow(
        handoff.id, HandoffPriority(handoff.priority), handoff.reason, handoff.status,
        handoff.channel, handoff.conversation_id, _aware(handoff.created_at),
        handoff.claimed_by, claimer_name, handoff.lead_id,
        lead.first_name if lead else None, lead.care_route if lead else None,
        lead.best_time if lead else None, lead.possible_duplicate_of if lead else None,
        _aware(handoff.resolved_at), handoff.disposition)


def _lead_summary(lead: Lead) -> LeadSummary:
    return LeadSummary(lead.id, _aware(lead.created_at), lead.channel, lead.status,
                       lead.first_name, lead.phone_e164, lead.email)


def _answers_of(session: Session, lead_id: str | None) -> list[tuple[str, str]]:
    if not lead_id:
        return []
    labels = answer_labels()["questions"]
    stored = {row.question: json.loads(row.answer) for row in session.scalars(
        select(PrescreenAnswer).where(PrescreenAnswer.lead_id == lead_id))}
    ordered = [q for q in labels if q in stored] + [q for q in stored if q not in labels]
    return [(labels.get(q, q), readable_answer(stored[q])) for q in ordered]


def _duplicates_of(session: Session, lead: Lead) -> list[LeadSummary]:
    """Other leads with this lead's phone number, and the one it was flagged against."""
    conditions = []
    if lead.phone_e164:
        conditions.append(Lead.phone_e164 == lead.phone_e164)
    if lead.possible_duplicate_of:
        conditions.append(Lead.id == lead.possible_duplicate_of)
    conditions.append(Lead.possible_duplicate_of == lead.id)
    return [_lead_summary(other) for other in session.scalars(
        select(Lead).where(or_(*conditions), Lead.id != lead.id).order_by(Lead.created_at))]
