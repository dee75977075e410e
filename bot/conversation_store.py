"""Rasa's SQL tracker store, reading and writing only what is new in a conversation, off the
event loop.

Rasa 3.6's SQL store does four things on every turn that cost more than they need to:
- it reads the whole session back from the database and decodes it, row by row, through the
  ORM, to rebuild the tracker;
- on saving, it counts the stored rows of the session, to know which events are new;
- with an event broker, it loads the stored conversation once more, only to find the events
  to publish;
- it waits for every round trip to the database on the event loop, so every conversation on
  the instance waits with it.

In the soak (2 instances, 200 conversations) the store was 29% of a Rasa instance's event
loop, which was busy 88% of the time. This store:
- remembers, for the conversations it served lately, the stored rows of their session as the
  JSON text the database holds, and reads from the database only the rows written since,
  together with the conversation's row count, newest row id and the timestamp of the row it
  last knew as newest, in the same query. Another instance's turns are rows written since
  too; a count, id or timestamp that does not add up (rows deleted, committed out of order,
  or an id SQLite handed out again after its row was deleted) means the conversation is read
  again in full, as Rasa reads it, and so does the turn after one that could not be decoded;
- marks each tracker it builds with the number of rows it was built from, so a save writes
  the events after them without counting; a tracker it did not build is counted as Rasa does;
- writes the rows Rasa writes, and publishes exactly those events, once they are committed;
- does its database work on threads of its own.

Each turn's tracker is still decoded afresh from text, so no turn can change what another
turn starts from. A conversation quiet for 15 minutes leaves memory within a minute, whether
or not the instance serves anything else (a transcript is not kept longer than its turns
need it). The session is chosen as Rasa chooses it (events at or after the latest
session start's timestamp). One turn at a time per conversation across instances is the lock
store's job, as it is for Rasa's own count.

Configured in endpoints.yml and endpoints-cluster.yml:
    tracker_store:
      type: bot.conversation_store.IncrementalSQLTrackerStore
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

# Enough for every conversation an instance serves at once (one instance holds about 100 at
# the latency target, README); the soak measured the memory it takes.
REMEMBERED_CONVERSATIONS = 400
# A conversation quiet for longer is forgotten: its next turn reads it in full again, and a
# transcript is not kept in memory longer than a turn needs it.
REMEMBER_FOR_S = 15 * 60
# How often an instance looks for quiet conversations even when it serves nothing at all.
SWEEP_EVERY_S = 60.0
# Set on each tracker this store builds or saves: how many of the session's events are
# stored, so the next save writes only the ones after them.
_ROWS_STORED = "_iop_rows_stored_in_session"


@dataclass
class _StoredSession:
    total_rows: int  # every session's rows: with newest_id, tells a change nobody appended
    newest_id: int
    # The newest row's timestamp: SQLite gives a deleted newest row's id to the next row
    # written, and then count and newest id add up as before over a different row.
    newest_timestamp: Optional[float]
    session_start: Optional[float]  # the latest SessionStarted's timestamp, as Rasa picks it
    rows: list  # (timestamp, data text) of the latest session, in id order
    used_at: float


class IncrementalSQLTrackerStore(SQLTrackerStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remembered: OrderedDict[str, _StoredSession] = OrderedDict()
        self._remembered_lock = threading.Lock()
        # The database work of a turn runs on threads of the store's own, as many as pooled
        # connections: Rasa's store holds the event loop, and every conversation on the
        # instance with it, through each round trip to the database. SQLite takes one writer
        # at a time anyway: one thread, so no turn waits on "database is locked".
        self._database_threads = concurrent.futures.ThreadPoolExecutor(
            1 if self.engine.dialect.name == "sqlite" else self.engine.pool.size(),
            thread_name_prefix="conversation-store")
        _QuietConversationSweep.watch(self)

    async def _on_database_thread(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._database_threads, work, *args)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._on_database_thread(self._build_tracker, sender_id)

    async def retrieve_full_tracker(self, conversation_id: str
                                    ) -> Optional[DialogueStateTracker]:
        return await self._on_database_thread(self._build_full_tracker, conversation_id)

    async def keys(self) -> list[str]:
        return await self._on_database_thread(self._stored_conversation_ids)

    def _build_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        with self.session_scope() as session:
            stored = self._read_session(session, sender_id)
        if stored is None or not stored.rows or not self.domain:
            return None
        try:
            tracker = self._tracker_from(sender_id, [data for _, data in stored.rows])
        except Exception:
            # A row that cannot be decoded may be mended in place, which no count or id shows:
            # forgotten, the conversation is read in full on its next turn.
            self._forget(sender_id)
            raise
        setattr(tracker, _ROWS_STORED, len(stored.rows))
        return tracker

    def _build_full_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """Every session's events, as Rasa's store reads them (the HTTP API's tracker)."""
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id,
                                     fetch_events_from_all_sessions=True).all()
        if not rows or not self.domain:
            return None
        return self._tracker_from(sender_id, [row.data for row in rows])

    def _tracker_from(self, sender_id: str, stored_texts: list[str]) -> DialogueStateTracker:
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(text) for text in stored_texts], self.domain.slots)

    def _stored_conversation_ids(self) -> list[str]:
        with self.session_scope() as session:
            return list(session.execute(
                sa.select(self.SQLEvent.sender_id).distinct()).scalars())

    def _forget(self, sender_id: str) -> None:
        with self._remembered_lock:
            self._remembered.pop(sender_id, None)

    def forget_quiet_conversations(self) -> None:
        with self._remembered_lock:
            self._forget_quiet(time.monotonic())

    def _read_session(self, session: Any, sender_id: str) -> Optional[_StoredSession]:
        now = time.monotonic()
        with self._remembered_lock:
            self._forget_quiet(now)
            known = self._remembered.pop(sender_id, None)
        stored = self._read_since(session, sender_id, known, now) if known else None
        if stored is None:
            stored = self._read_since(session, sender_id, None, now)
        if stored is not None and stored.total_rows:
            with self._remembered_lock:
                self._remembered[sender_id] = stored
                while len(self._remembered) > REMEMBERED_CONVERSATIONS:
                    self._remembered.popitem(last=False)
        return stored

    def _forget_quiet(self, now: float) -> None:
        while self._remembered:
            oldest = next(iter(self._remembered.values()))
            if now - oldest.used_at < REMEMBER_FOR_S:
                return
            self._remembered.popitem(last=False)

    def _read_since(self, session: Any, sender_id: str, known: Optional[_StoredSession],
                    now: float) -> Optional[_StoredSession]:
        """One query: the conversation's row count and newest id, and either the rows after
        the newest one `known` has or, with nothing known, the latest session's rows. None
        when what is known no longer adds up."""
        events = self.SQLEvent.__table__
        of_sender = events.c.sender_id == sender_id
        newest_id = sa.select(sa.func.max(events.c.id)).where(of_sender).scalar_subquery()
        # The timestamp of the row that is newest now, or, with rows known, of the one that
        # was newest then: by primary key either way.
        anchor_id = newest_id if known is None else known.newest_id
        anchor_timestamp = sa.select(events.c.timestamp).where(
            of_sender, events.c.id == anchor_id).scalar_subquery()
        totals = sa.select(sa.func.count().label("total"),
                           sa.func.max(events.c.id).label("newest"),
                           anchor_timestamp.label("anchor_timestamp")
                           ).where(of_sender).subquery()
        if known is None:
            latest_start = sa.select(sa.func.max(events.c.timestamp)).where(
                of_sender, events.c.type_name == SessionStarted.type_name).scalar_subquery()
            wanted = sa.and_(of_sender, sa.or_(events.c.timestamp >= latest_start,
                                               latest_start.is_(None)))
        else:
            wanted = sa.and_(of_sender, events.c.id > known.newest_id)
        rows = sa.select(events.c.id, events.c.type_name, events.c.timestamp,
                         events.c.data).where(wanted).subquery()
        query = (sa.select(totals.c.total, totals.c.newest, totals.c.anchor_timestamp,
                           rows.c.id, rows.c.type_name, rows.c.timestamp, rows.c.data)
                 .select_from(totals.outerjoin(rows, sa.true()))
                 .order_by(rows.c.id))
        result = session.execute(query).all()
        total, newest = result[0].total, result[0].newest
        new_rows = [row for row in result if row.id is not None]
        if known is None:
            starts = [row.timestamp for row in new_rows
                      if row.type_name == SessionStarted.type_name and row.timestamp is not None]
            return _StoredSession(total or 0, newest or 0, result[0].anchor_timestamp,
                                  max(starts, default=None),
                                  [(row.timestamp, row.data) for row in new_rows], now)
        if (total != known.total_rows + len(new_rows)
                or (newest or 0) != (new_rows[-1].id if new_rows else known.newest_id)
                or result[0].anchor_timestamp != known.newest_timestamp):
            logger.info("a stored conversation changed other than by new events: read again")
            return None
        starts = [known.session_start] + [
            row.timestamp for row in new_rows if row.type_name == SessionStarted.type_name]
        start = max((value for value in starts if value is not None), default=None)
        kept = known.rows + [(row.timestamp, row.data) for row in new_rows]
        if start is not None:  # as Rasa's query: at or after the latest start, if any
            kept = [row for row in kept if row[0] is not None and row[0] >= start]
        return _StoredSession(total, newest or 0,
                              new_rows[-1].timestamp if new_rows else known.newest_timestamp,
                              start, kept, now)

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        return None  # published in `save`, with the events it writes

    async def save(self, tracker: DialogueStateTracker) -> None:
        written = await self._on_database_thread(self._write_new_events, tracker)
        # After the commit, so the stream never has an event the conversation does not.
        if self.event_broker is not None:
            for event in written:
                self.event_broker.publish({"sender_id": tracker.sender_id, **event})

    def _write_new_events(self, tracker: DialogueStateTracker) -> list[dict]:
        """The rows Rasa's store writes, for the events after the stored ones."""
        written = []
        with self.session_scope() as session:
            stored = getattr(tracker, _ROWS_STORED, None)
            if stored is None:  # a tracker this store did not build: counted, as Rasa does
                new_events = list(super()._additional_events(session, tracker))
                stored = len(tracker.events) - len(new_events)
            else:
                new_events = list(tracker.events)[stored:]
            for event in new_events:
                data = event.as_dict()
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(
                        INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
                written.append(data)
            session.commit()
        setattr(tracker, _ROWS_STORED, stored + len(new_events))
        return written


class _QuietConversationSweep:
    """One thread per process that drops quiet conversations from every store's memory, so an
    instance with no more turns to serve does not keep their transcripts. It holds the stores
    weakly: a store no longer used (a test's, a reloaded model's) is not kept alive by it."""
    _stores: "weakref.WeakSet[IncrementalSQLTrackerStore]" = weakref.WeakSet()
    _thread: Optional[threading.Thread] = None
    _guard = threading.Lock()
    _wake = threading.Event()  # set: sweep now rather than at the next minute

    @classmethod
    def watch(cls, store: IncrementalSQLTrackerStore) -> None:
        with cls._guard:
            cls._stores.add(store)
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._sweep_forever, daemon=True,
                                               name="quiet-conversation-sweep")
                cls._thread.start()

    @classmethod
    def _sweep_forever(cls) -> None:
        while True:
            cls._wake.wait(SWEEP_EVERY_S)
            cls._wake.clear()
            cls.sweep_once()

    @classmethod
    def sweep_once(cls) -> None:
        for store in list(cls._stores):
            store.forget_quiet_conversations()
