"""Reads and writes the leads database: one Session per unit of work, 2.0-style queries.

Every method is synchronous and quick; callers run them through `asyncio.to_thread` (see
bot/handoff/service.py) so no event loop ever waits on the database.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.leads.crypto import MemberIdCipher, seal_member_id
from bot.leads.schema import (
    AuditEvent,
    Consent,
    Handoff,
    Lead,
    PrescreenAnswer,
    new_id,
    utc_now,
)
from bot.leads.submission import Applied, HandoffPriority, LeadDetails, Submission

WAITING, CLAIMED, RESOLVED = "waiting", "claimed", "resolved"
OPEN_STATUSES = (WAITING, CLAIMED)
# The window the per-conversation handoff cap counts over.
HANDOFF_CAP_WINDOW = dt.timedelta(hours=24)
# The pre-screen stores substances under its slot name (bot.prescreen.questions.SUBSTANCES);
# tests/test_leads_cli.py checks every export column against a real pre-screen.
SUBSTANCES_ANSWER = "ps_substances"

# LeadDetails fields copied straight onto the lead row when the person gave them.
_LEAD_COLUMNS = ("for_whom", "relationship", "first_name", "phone_e164", "email", "state",
                 "zip_code", "age_group", "insurance_carrier", "best_time", "voicemail_ok",
                 "text_ok", "discreet", "care_route")

EXPORT_COLUMNS = ("lead_id", "created_at", "updated_at", "channel", "status", "for_whom",
                  "relationship", "first_name", "phone", "email", "state", "zip_code",
                  "age_group", "substances", "insurance_carrier", "care_route", "care_reasons",
                  "best_time", "voicemail_ok", "text_ok", "discreet", "handoff_status",
                  "consent_contact", "consent_privacy", "phone_verified",
                  "possible_duplicate_of")


class HandoffNotFound(LookupError):
    pass


@dataclass(frozen=True)
class QueuedHandoff:
    handoff_id: str
    priority: HandoffPriority
    reason: str
    status: str
    channel: str
    conversation_id: str
    created_at: dt.datetime
    lead_id: str | None
    first_name: str | None
    care_route: str | None
    possible_duplicate_of: str | None = None


@dataclass(frozen=True)
class PlaceInQueue:
    """Where a person's own open handoff stands, as the person may be told: no staff names."""

    status: str  # WAITING or CLAIMED
    # 1 for next in line; None once a counselor has taken it.
    position: int | None


@dataclass(frozen=True)
class _HandoffOutcome:
    handoff_id: str | None = None
    is_new: bool = False
    priority: HandoffPriority | None = None
    capped: bool = False


class LeadStore:
    def __init__(self, engine: Engine, cipher: MemberIdCipher | None = None,
                 handoff_cap_per_conversation: int | None = None):
        self.engine = engine
        self._cipher = cipher
        # New handoffs one conversation may open per HANDOFF_CAP_WINDOW (None: no cap).
        self._handoff_cap = handoff_cap_per_conversation

    # --- written by the assistant -------------------------------------------------------------

    def apply(self, submission: Submission, actor: str = "assistant") -> Applied:
        """Writes a submission; applying the same one again changes nothing."""
        submission = seal_member_id(submission, self._cipher)
        try:
            return self._apply_once(submission, actor)
        except IntegrityError:
            # Two channels raced to create the lead for one verified number: the second now
            # finds the first's row and updates it.
            return self._apply_once(submission, actor)

    def _apply_once(self, submission: Submission, actor: str) -> Applied:
        with Session(self.engine, future=True) as session, session.begin():
            lead_id = None
            if submission.lead is not None:
                lead_id = self._upsert_lead(session, submission, submission.lead, actor)
            handoff = _HandoffOutcome()
            if submission.handoff is not None:
                handoff = self._open_handoff(session, submission, lead_id, actor)
            return Applied(submission.submission_id, lead_id, handoff.handoff_id,
                           handoff.is_new, handoff.priority, handoff.capped)

    def _upsert_lead(self, session: Session, submission: Submission, details: LeadDetails,
                     actor: str) -> str:
        lead = self._existing_lead(session, submission.conversation_id, details)
        now = utc_now()
        if lead is None:
            lead = Lead(id=new_id(), channel=submission.channel,
                        conversation_id=submission.conversation_id, created_at=now,
                        status=details.status, phone_verified=False)
            session.add(lead)
            action = "create"
        else:
            action = "update"
        lead.updated_at = now
        lead.channel = submission.channel
        lead.conversation_id = submission.conversation_id
        # A finished pre-screen is never downgraded by a later, shorter conversation.
        if details.status == "complete" or lead.status is None:
            lead.status = details.status
        for column in _LEAD_COLUMNS:
            value = getattr(details, column)
            if value is not None:
                setattr(lead, column, value)
        if details.phone_verified and details.phone_e164:
            lead.phone_verified = True
        if details.care_reasons:
            lead.care_reasons = json.dumps(list(details.care_reasons))
        if details.member_id_sealed:
            lead.member_id_encrypted = details.member_id_sealed.encode("ascii")
        if lead.phone_e164 and lead.possible_duplicate_of is None:
            lead.possible_duplicate_of = session.scalar(
                select(Lead.id).where(Lead.phone_e164 == lead.phone_e164, Lead.id != lead.id)
                .order_by(Lead.created_at).limit(1))
        session.flush()
        self._save_answers(session, lead.id, details.answers, now)
        self._save_consents(session, lead.id, details, submission.channel)
        session.add(AuditEvent(actor=actor, action=action, entity="lead", entity_id=lead.id))
        return lead.id

    @staticmethod
    def _existing_lead(session: Session, conversation_id: str,
                       details: LeadDetails) -> Lead | None:
        phone = details.phone_e164
        if phone and details.phone_verified:
            # The number the person texts or calls from: the same person on any channel.
            lead = session.execute(select(Lead).where(
                Lead.phone_e164 == phone, Lead.phone_verified.is_(True))).scalar_one_or_none()
            if lead is not None:
                return lead
        # The same conversation is the same person, unless they now give another number. A
        # typed number found on another conversation's lead is never merged into it: anyone
        # can type anyone's number.
        query = select(Lead).where(Lead.conversation_id == conversation_id)
        if phone:
            query = query.where((Lead.phone_e164.is_(None)) | (Lead.phone_e164 == phone))
        return session.execute(
            query.order_by(Lead.updated_at.desc()).limit(1)).scalar_one_or_none()

    @staticmethod
    def _save_answers(session: Session, lead_id: str, answers: dict[str, Any],
                      now: dt.datetime) -> None:
        existing = {
            row.question: row for row in session.execute(
                select(PrescreenAnswer).where(PrescreenAnswer.lead_id == lead_id)
            ).scalars()
        }
        for question, value in answers.items():
            if value is None:
                continue
            encoded = json.dumps(value)
            row = existing.get(question)
            if row is None:
                session.add(PrescreenAnswer(lead_id=lead_id, question=question, answer=encoded,
                                            answered_at=now))
            elif row.answer != encoded:
                row.answer, row.answered_at = encoded, now

    @staticmethod
    def _save_consents(session: Session, lead_id: str, details: LeadDetails, channel: str) -> None:
        for consent in details.consents:
            recorded_at = dt.datetime.fromisoformat(consent.recorded_at)
            already = session.execute(
                select(Consent.id).where(
                    Consent.lead_id == lead_id, Consent.kind == consent.kind,
                    Consent.wording_version == consent.wording_version,
                    Consent.recorded_at == recorded_at,
                )
            ).first()
            if already is None:
                session.add(Consent(lead_id=lead_id, kind=consent.kind, granted=consent.granted,
                                    wording_version=consent.wording_version, channel=channel,
                                    recorded_at=recorded_at))

    def _open_handoff(self, session: Session, submission: Submission, lead_id: str | None,
                      actor: str) -> _HandoffOutcome:
        request = submission.handoff
        open_handoff = session.execute(
            select(Handoff).where(Handoff.conversation_id == submission.conversation_id,
                                  Handoff.status.in_(OPEN_STATUSES))
        ).scalars().first()
        if open_handoff is not None:
            # One open handoff per conversation; a more urgent reason moves it up the queue.
            open_handoff.priority = min(open_handoff.priority, int(request.priority))
            open_handoff.lead_id = open_handoff.lead_id or lead_id
            return _HandoffOutcome(open_handoff.id, False, HandoffPriority(open_handoff.priority))
        submitted_at = dt.datetime.fromisoformat(submission.submitted_at)
        # A crisis is never capped: it always reaches a person.
        if self._handoff_cap is not None and request.priority != HandoffPriority.CRISIS:
            recent = session.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.conversation_id == submission.conversation_id,
                Handoff.created_at > submitted_at - HANDOFF_CAP_WINDOW))
            if recent >= self._handoff_cap:
                return _HandoffOutcome(capped=True)
        handoff = Handoff(lead_id=lead_id, conversation_id=submission.conversation_id,
                          channel=submission.channel, reason=request.reason,
                          priority=int(request.priority), status=WAITING,
                          created_at=submitted_at, notify_attempts=0)
        session.add(handoff)
        session.flush()
        session.add(AuditEvent(actor=actor, action="create", entity="handoff",
                               entity_id=handoff.id))
        return _HandoffOutcome(handoff.id, True, request.priority)

    def audit(self, actor: str, action: str, entity: str, entity_id: str | None = None) -> None:
        """One audit row for a staff action that changes nothing here (resuming a conversation
        happens in Rasa), so every read and change stays on the trail."""
        with Session(self.engine, future=True) as session, session.begin():
            session.add(AuditEvent(actor=actor, action=action, entity=entity,
                                   entity_id=(entity_id or "")[:36] or None))

    def record_notification(self, handoff_id: str, attempts: int, error: str | None) -> None:
        with Session(self.engine, future=True) as session, session.begin():
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                return
            handoff.notify_attempts = attempts
            handoff.notify_error = error[:200] if error else None
            if error is None:
                handoff.notified_at = utc_now()

    # --- used by staff --------------------------------------------------------------------------

    def waiting_queue(self, actor: str) -> list[QueuedHandoff]:
        """Open handoffs, most urgent first, then oldest first."""
        with Session(self.engine, future=True) as session, session.begin():
            rows = session.execute(
                select(Handoff, Lead).outerjoin(Lead, Handoff.lead_id == Lead.id)
                .where(Handoff.status == WAITING)
                .order_by(Handoff.priority, Handoff.created_at)
            ).all()
            session.add(AuditEvent(actor=actor, action="read", entity="handoff_queue"))
            return [QueuedHandoff(h.id, HandoffPriority(h.priority), h.reason, h.status,
                                  h.channel, h.conversation_id, h.created_at, h.lead_id,
                                  lead.first_name if lead else None,
                                  lead.care_route if lead else None,
                                  lead.possible_duplicate_of if lead else None)
                    for h, lead in rows]

    def claim(self, handoff_id: str, staff: str) -> None:
        self._move(handoff_id, staff, WAITING, CLAIMED)

    def resolve(self, handoff_id: str, staff: str) -> None:
        self._move(handoff_id, staff, CLAIMED, RESOLVED)

    def _move(self, handoff_id: str, staff: str, from_status: str, to_status: str) -> None:
        with Session(self.engine, future=True) as session, session.begin():
            handoff = session.get(Handoff, handoff_id, with_for_update=True)
            if handoff is None:
                raise HandoffNotFound(handoff_id)
            if handoff.status != from_status:
                raise ValueError(f"handoff is {handoff.status}, not {from_status}")
            handoff.status = to_status
            if to_status == CLAIMED:
                handoff.claimed_at, handoff.claimed_by = utc_now(), staff
            else:
                handoff.resolved_at = utc_now()
            session.add(AuditEvent(actor=staff, action=to_status, entity="handoff",
                                   entity_id=handoff_id))

    def place_in_queue(self, conversation_id: str) -> PlaceInQueue | None:
        """The conversation's open handoff and how many waiting ones go before it (more
        urgent, or as urgent and older); None when it has no open handoff. Not audited: it
        answers the person about their own conversation and reads no one else's details."""
        with Session(self.engine, future=True) as session:
            handoff = session.execute(
                select(Handoff).where(Handoff.conversation_id == conversation_id,
                                      Handoff.status.in_(OPEN_STATUSES))
                .order_by(Handoff.created_at.desc()).limit(1)).scalar_one_or_none()
            if handoff is None:
                return None
            if handoff.status == CLAIMED:
                return PlaceInQueue(CLAIMED, None)
            ahead = session.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.status == WAITING,
                (Handoff.priority < handoff.priority)
                | ((Handoff.priority == handoff.priority)
                   & (Handoff.created_at < handoff.created_at))))
            return PlaceInQueue(WAITING, int(ahead or 0) + 1)

    def callback_time_of(self, phone_e164: str) -> str | None:
        """When the person calling from this number said a counselor should call, if they said.

        Only the lead of the verified number counts: someone else may have typed it.
        """
        with Session(self.engine, future=True) as session:
            return session.scalar(select(Lead.best_time).where(
                Lead.phone_e164 == phone_e164, Lead.phone_verified.is_(True)))

    def conversation_of(self, handoff_id: str) -> str:
        with Session(self.engine, future=True) as session:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                raise HandoffNotFound(handoff_id)
            return handoff.conversation_id

    def export_rows(self, actor: str) -> Iterator[dict[str, Any]]:
        """One row per lead with the columns staff work from; the export itself is audited."""
        with Session(self.engine, future=True) as session, session.begin():
            leads = session.execute(select(Lead).order_by(Lead.created_at)).scalars().all()
            answers = _answers_by_lead(session)
            consents = _latest_consents_by_lead(session)
            handoffs = _latest_handoff_status_by_lead(session)
            session.add(AuditEvent(actor=actor, action="export", entity="leads"))
            rows = [self._export_row(lead, answers.get(lead.id, {}), consents.get(lead.id, {}),
                                     handoffs.get(lead.id)) for lead in leads]
        return iter(rows)

    def _export_row(self, lead: Lead, answers: dict[str, Any], consents: dict[str, bool],
                    handoff_status: str | None) -> dict[str, Any]:
        return {
            "lead_id": lead.id, "created_at": lead.created_at.isoformat(),
            "updated_at": lead.updated_at.isoformat(), "channel": lead.channel,
            "status": lead.status, "for_whom": lead.for_whom, "relationship": lead.relationship,
            "first_name": lead.first_name, "phone": lead.phone_e164, "email": lead.email,
            "state": lead.state, "zip_code": lead.zip_code, "age_group": lead.age_group,
            "substances": answers.get(SUBSTANCES_ANSWER) or [],
            "insurance_carrier": lead.insurance_carrier, "care_route": lead.care_route,
            "care_reasons": json.loads(lead.care_reasons) if lead.care_reasons else [],
            "best_time": lead.best_time, "voicemail_ok": lead.voicemail_ok,
            "text_ok": lead.text_ok, "discreet": lead.discreet,
            "handoff_status": handoff_status,
            "consent_contact": consents.get("contact"), "consent_privacy": consents.get("privacy"),
            "phone_verified": lead.phone_verified,
            "possible_duplicate_of": lead.possible_duplicate_of,
        }

    def member_id_of(self, lead_id: str, actor: str) -> str | None:
        with Session(self.engine, future=True) as session, session.begin():
            lead = session.get(Lead, lead_id)
            session.add(AuditEvent(actor=actor, action="read_member_id", entity="lead",
                                   entity_id=lead_id))
            if lead is None or lead.member_id_encrypted is None or self._cipher is None:
                return None
            return self._cipher.decrypt(lead.member_id_encrypted)


def _answers_by_lead(session: Session) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for row in session.execute(select(PrescreenAnswer)).scalars():
        result.setdefault(row.lead_id, {})[row.question] = json.loads(row.answer)
    return result


def _latest_consents_by_lead(session: Session) -> dict[str, dict[str, bool]]:
    result: dict[str, dict[str, bool]] = {}
    for row in session.execute(select(Consent).order_by(Consent.recorded_at)).scalars():
        result.setdefault(row.lead_id, {})[row.kind] = row.granted
    return result


def _latest_handoff_status_by_lead(session: Session) -> dict[str, str]:
    result: dict[str, str] = {}
    for row in session.execute(select(Handoff).order_by(Handoff.created_at)).scalars():
        if row.lead_id:
            result[row.lead_id] = row.status
    return result
