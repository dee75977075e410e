"""Tables of the leads database. Alembic migrations (bot/leads/migrations) create them."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import declarative_base

Base = declarative_base()


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Lead(Base):
    """One person seeking care (or the loved one asking for them).

    A conversation keeps updating its own lead. Across conversations only a number the phone
    channel saw (`phone_verified`) joins them: SMS and voice from one number are one lead.
    A number merely typed in is not proof of who it belongs to, so it starts a new lead that
    points at the other (`possible_duplicate_of`) for staff to check.
    """

    __tablename__ = "leads"
    # At most one lead per verified number (two channels racing to create it: the second
    # finds the first); typed numbers may repeat.
    __table_args__ = (Index("uq_leads_verified_phone", "phone_e164", unique=True,
                            postgresql_where=text("phone_verified"),
                            sqlite_where=text("phone_verified")),)
    id = Column(String(36), primary_key=True, default=new_id)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)
    channel = Column(String(32), nullable=False)
    # The conversation that last touched the lead, so a handoff can reply on it.
    conversation_id = Column(String(128), nullable=False, index=True)
    # "complete" once the pre-screen is finished; "incomplete" when the person stopped early.
    status = Column(String(16), nullable=False, default="incomplete")
    for_whom = Column(String(16))
    relationship = Column(String(32))
    first_name = Column(String(64))
    # E.164.
    phone_e164 = Column(String(16), index=True)
    phone_verified = Column(Boolean, nullable=False, default=False, server_default=false())
    # Another lead with the same phone number, from another conversation: maybe the same
    # person, maybe someone who typed another's number. Staff decide.
    possible_duplicate_of = Column(String(36), ForeignKey("leads.id", ondelete="SET NULL"))
    email = Column(String(254))
    state = Column(String(2))
    zip_code = Column(String(5))
    age_group = Column(String(16))
    insurance_carrier = Column(String(64))
    member_id_encrypted = Column(LargeBinary)
    best_time = Column(String(64))
    voicemail_ok = Column(Boolean)
    text_ok = Column(Boolean)
    discreet = Column(Boolean)
    care_route = Column(String(16))
    # JSON list of plain-language reasons behind the care route, for the counselor.
    care_reasons = Column(Text)


class PrescreenAnswer(Base):
    """One answer per question per lead; answering again replaces it."""

    __tablename__ = "prescreen_answers"
    __table_args__ = (UniqueConstraint("lead_id", "question"),)
    id = Column(Integer, primary_key=True, autoincrement=True)
    lead_id = Column(String(36), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False)
    question = Column(String(64), nullable=False)
    # JSON-encoded value as stored by the form ("true", "[\"alcohol\"]", "\"IL\"").
    answer = Column(Text, nullable=False)
    answered_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class Consent(Base):
    """What the person agreed to, when, on which channel, and the exact wording's version."""

    __tablename__ = "consents"
    id = Column(Integer, primary_key=True, autoincrement=True)
    lead_id = Column(String(36), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    kind = Column(String(16), nullable=False)  # "contact" or "privacy"
    granted = Column(Boolean, nullable=False)
    wording_version = Column(String(32), nullable=False)
    channel = Column(String(32), nullable=False)
    recorded_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class Handoff(Base):
    """A conversation waiting for, or taken by, an admissions counselor."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_queue", "status", "priority", "created_at"),)
    id = Column(String(36), primary_key=True, default=new_id)
    lead_id = Column(String(36), ForeignKey("leads.id", ondelete="SET NULL"))
    conversation_id = Column(String(128), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    reason = Column(String(32), nullable=False)  # request_human, prescreen_complete, fallback
    priority = Column(Integer, nullable=False)  # a HandoffPriority: 0 = crisis, seen first
    status = Column(String(16), nullable=False, default="waiting")  # waiting, claimed, resolved
    created_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)
    claimed_at = Column(DateTime(timezone=True))
    claimed_by = Column(String(64))
    resolved_at = Column(DateTime(timezone=True))
    resolved_by = Column(String(64))
    # How it ended (bot/staff/dispositions.py), and its one detail: the assessment's date and
    # time, where the person was referred, or how many attempts were made.
    disposition = Column(String(32))
    disposition_detail = Column(String(200))
    # Given back to the assistant when resolved (True), or left closed (False).
    handed_back = Column(Boolean)
    notified_at = Column(DateTime(timezone=True))
    notify_attempts = Column(Integer, nullable=False, default=0)
    notify_error = Column(String(200))


class AuditEvent(Base):
    """Who read or changed what; ids and actions only, never the data itself."""

    __tablename__ = "audit_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime(timezone=True), nullable=False, default=utc_now)
    actor = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)
    entity = Column(String(32), nullable=False)
    entity_id = Column(String(36))


class SmsOptOut(Base):
    """A number that texted STOP: nothing goes to it, from anyone, until it texts START."""

    __tablename__ = "sms_opt_outs"
    phone_e164 = Column(String(16), primary_key=True)
    opted_out_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class InboundDelivery(Base):
    """A Twilio message or call turn already handled, so a retried webhook gets no second reply."""

    __tablename__ = "inbound_deliveries"
    delivery_id = Column(String(64), primary_key=True)  # MessageSid, or CallSid plus turn
    channel = Column(String(32), nullable=False)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utc_now, index=True)


class ConversationContact(Base):
    """The phone number behind a pseudonymous conversation id (SMS and voice).

    Kept here, beside the leads, and not in the conversation history, so the tracker store
    never holds raw numbers; the pre-screen reads it to confirm the number instead of asking.
    """

    __tablename__ = "conversation_contacts"
    conversation_id = Column(String(128), primary_key=True)
    channel = Column(String(32), nullable=False)
    phone_e164 = Column(String(16), nullable=False, index=True)
    first_seen_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class StaffUser(Base):
    """An admissions staff account for the console; made with `python -m bot.staff`."""

    __tablename__ = "staff_users"
    id = Column(String(36), primary_key=True, default=new_id)
    username = Column(String(64), nullable=False, unique=True)
    # The first name the person sees beside a counselor's messages.
    display_name = Column(String(64), nullable=False)
    role = Column(String(16), nullable=False)  # "counselor" or "admin"
    password_hash = Column(String(255), nullable=False)  # argon2id
    # A one-time password (first admin, reset) must be replaced at the next login.
    must_change_password = Column(Boolean, nullable=False, default=True)
    disabled = Column(Boolean, nullable=False, default=False, server_default=false())
    created_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)
    # Sessions signed before this are no longer valid (a reset or a disable ends them).
    sessions_valid_after = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class StaffNote(Base):
    """A counselor's private note on a lead; never sent to the person."""

    __tablename__ = "staff_notes"
    id = Column(Integer, primary_key=True, autoincrement=True)
    lead_id = Column(String(36), ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    author = Column(String(64), nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class CannedReply(Base):
    """A reply admins keep ready for counselors, inserted and then edited before sending."""

    __tablename__ = "canned_replies"
    id = Column(Integer, primary_key=True, autoincrement=True)
    title = Column(String(80), nullable=False)
    body = Column(Text, nullable=False)
    created_by = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class StaffContact(Base):
    """One counselor reply or call on a handoff and what became of it.

    The reply's words live in the conversation's transcript (Rasa's tracker store), not here;
    this row keeps only when, who, on which channel and the outcome, for the queue, the reason
    a text was held and the time-to-first-human-reply figures.
    """

    __tablename__ = "staff_contacts"
    id = Column(Integer, primary_key=True, autoincrement=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id", ondelete="CASCADE"),
                        nullable=False, index=True)
    staff = Column(String(64), nullable=False)
    kind = Column(String(16), nullable=False)  # "reply" or "call"
    channel = Column(String(32), nullable=False)
    # "sent", "held" (with `reason`), or a call's outcome ("reached", "voicemail", ...).
    outcome = Column(String(32), nullable=False)
    reason = Column(String(120))
    at = Column(DateTime(timezone=True), nullable=False, default=utc_now)


class FunnelStep(Base):
    """A funnel step one conversation reached (bot/funnel), counted once however often the
    event stream delivers it. The key is a keyed digest, not the conversation id: this table
    cannot be joined to a lead or a transcript."""

    __tablename__ = "funnel_steps"
    conversation_key = Column(String(64), primary_key=True)
    step = Column(String(32), primary_key=True)
    channel = Column(String(32))
    reached_at = Column(DateTime(timezone=True), nullable=False, index=True)
