"""Opt-outs, handled deliveries and conversation contacts, in the leads database.

They live beside the leads so every Rasa instance, the action server and the staff tools
agree on them, and they survive a restart (a retried webhook after a redeploy must still be
recognised, and a STOP must hold for good).
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.leads.database import engine_for, ensure_schema
from bot.leads.schema import ConversationContact, InboundDelivery, SmsOptOut, utc_now

# Conversation ids whose number is already stored. An id always maps to the same number (it
# is derived from it), so after the first message of a conversation the write can be skipped.
_KNOWN_CONTACTS_LIMIT = 50_000


class MessagingStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._known_contacts: set[str] = set()

    def ensure_schema(self) -> None:
        ensure_schema(self.engine)

    def _session(self) -> Session:
        self.ensure_schema()
        return Session(self.engine, future=True)

    # --- retried webhooks -----------------------------------------------------------------

    def first_delivery(self, delivery_id: str, channel: str) -> bool:
        """True the first time an id is seen, False for every retry of it (atomic)."""
        try:
            with self._session() as session, session.begin():
                session.add(InboundDelivery(delivery_id=delivery_id, channel=channel))
            return True
        except IntegrityError:
            return False

    def forget_delivery(self, delivery_id: str) -> None:
        """Lets Twilio's retry of a message we failed to handle be handled after all."""
        with self._session() as session, session.begin():
            session.execute(delete(InboundDelivery).where(
                InboundDelivery.delivery_id == delivery_id))

    def forget_deliveries_before(self, cutoff: dt.datetime) -> int:
        """Twilio retries within minutes; ids older than a few days need not be kept."""
        with self._session() as session, session.begin():
            result = session.execute(
                delete(InboundDelivery).where(InboundDelivery.received_at < cutoff))
            return result.rowcount or 0

    # --- opt-out --------------------------------------------------------------------------

    def opt_out(self, phone_e164: str) -> None:
        try:
            with self._session() as session, session.begin():
                if session.get(SmsOptOut, phone_e164) is None:
                    session.add(SmsOptOut(phone_e164=phone_e164))
        except IntegrityError:  # a simultaneous STOP already wrote it
            pass

    def opt_in(self, phone_e164: str) -> None:
        with self._session() as session, session.begin():
            session.execute(delete(SmsOptOut).where(SmsOptOut.phone_e164 == phone_e164))

    def is_opted_out(self, phone_e164: str) -> bool:
        with self._session() as session:
            return session.get(SmsOptOut, phone_e164) is not None

    # --- who is behind a pseudonymous conversation ----------------------------------------

    def remember_contact(self, conversation_id: str, channel: str, phone_e164: str) -> None:
        if conversation_id in self._known_contacts:
            return
        try:
            with self._session() as session, session.begin():
                if session.get(ConversationContact, conversation_id) is None:
                    session.add(ConversationContact(conversation_id=conversation_id,
                                                    channel=channel, phone_e164=phone_e164,
                                                    first_seen_at=utc_now()))
        except IntegrityError:
            pass
        if len(self._known_contacts) >= _KNOWN_CONTACTS_LIMIT:
            self._known_contacts.clear()
        self._known_contacts.add(conversation_id)

    def phone_of(self, conversation_id: str) -> str | None:
        with self._session() as session:
            return session.scalar(select(ConversationContact.phone_e164).where(
                ConversationContact.conversation_id == conversation_id))


@lru_cache(maxsize=4)
def messaging_store_for(database_url: str) -> MessagingStore:
    return MessagingStore(engine_for(database_url))
