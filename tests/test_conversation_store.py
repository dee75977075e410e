"""Each turn's new events reach the event broker once, in order, as Rasa's own store sends
them, without the store reading the conversation back on every save."""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import conversation_store
from bot.conversation_store import IncrementalSQLTrackerStore
from tests.conftest import _throwaway_postgres_database


class KeptEvents(EventBroker):
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict) -> None:
        self.published.append(event)


def a_conversation_in_two_turns(store_class, tmp_path):
    broker = KeptEvents()
    database = tmp_path / f"{store_class.__name__}.db"
    store = store_class(Domain.empty(), dialect="sqlite", db=str(database), event_broker=broker)
    first_turn = DialogueStateTracker.from_events("visitor-1", [
        ActionExecuted("action_session_start"), SessionStarted(),
        ActionExecuted("action_listen"), UserUttered("how much does it cost")])
    reads = []
    retrieve = store.retrieve

    async def counted_retrieve(sender_id):
        reads.append(sender_id)
        return await retrieve(sender_id)
    store.retrieve = counted_retrieve

    async def two_turns():
        await store.save(first_turn)
        # Each turn starts from the stored conversation, as Rasa's processor does.
        tracker = await retrieve("visitor-1")
        tracker.update(BotUttered("It depends on your plan."))
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered("thanks"))
        await store.save(tracker)
        stored = await retrieve("visitor-1")
        return [event.as_dict()["event"] for event in stored.events]

    stored = asyncio.run(two_turns())
    return [(e["sender_id"], e["event"], e.get("text")) for e in broker.published], stored, reads


def test_new_events_are_published_as_rasas_store_publishes_them_without_reading_back(tmp_path):
    ours, our_stored, our_reads = a_conversation_in_two_turns(IncrementalSQLTrackerStore, tmp_path)
    rasas, rasas_stored, rasas_reads = a_conversation_in_two_turns(SQLTrackerStore, tmp_path)
    assert ours == rasas
    assert [event for _, event, _ in ours] == [
        "action", "session_started", "action", "user", "bot", "action", "user"]
    assert our_stored == rasas_stored == [
        "session_started", "action", "user", "bot", "action", "user"]
    assert rasas_reads == ["visitor-1", "visitor-1"] and our_reads == []


# Several instances serving one conversation, on the engines production uses.

@contextlib.contextmanager
def stores_on(engine: str, tmp_path):
    """Two of our stores (two Rasa instances) and Rasa's own, on one database."""
    if engine == "sqlite":
        options = {"dialect": "sqlite", "db": str(tmp_path / "conversations.db")}
        drop = None
    else:
        url, drop = _throwaway_postgres_database()
        parts = urlsplit(url)
        options = {"dialect": "postgresql", "host": parts.hostname, "port": parts.port,
                   "username": parts.username, "db": parts.path.lstrip("/")}
    domain = Domain.from_dict({"slots": {"substances": {
        "type": "list", "mappings": [{"type": "custom"}]}}})
    made = [IncrementalSQLTrackerStore(domain, **options),
            IncrementalSQLTrackerStore(domain, **options), SQLTrackerStore(domain, **options)]
    try:
        yield made
    finally:
        for store in made:
            store.engine.dispose()
        if drop:
            drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request, tmp_path):
    with stores_on(request.param, tmp_path) as made:
        yield made


def stored_as(tracker):
    if tracker is None:
        return None
    return ([event.as_dict() for event in tracker.events],
            {name: slot.value for name, slot in tracker.slots.items()})


def a_turn(number: int, new_session: bool = False) -> list:
    events = [ActionExecuted("action_session_start"), SessionStarted()] if new_session else []
    return events + [
        ActionExecuted("action_listen"), UserUttered(f"message {number}"),
        SlotSet("substances", [f"substance {number}"]), BotUttered(f"reply {number}")]


async def serve_turn(store, sender_id: str, events: list) -> None:
    """What Rasa's processor does with a turn: read the conversation, add to it, save it."""
    tracker = await store.get_or_create_tracker(sender_id, append_action_listen=False)
    for event in events:
        tracker.update(event)
    await store.save(tracker)


def test_turns_on_either_instance_read_back_as_rasas_store_reads_them(stores):
    ours_a, ours_b, rasas = stores

    async def conversation():
        seen = []
        for number in range(8):
            serving = (ours_a, ours_b)[number % 3 == 2]  # mostly a, sometimes b
            await serve_turn(serving, "visitor-1", a_turn(number, new_session=number in (0, 5)))
            expected = stored_as(await rasas.retrieve("visitor-1"))
            seen.append(expected)
            assert stored_as(await ours_a.retrieve("visitor-1")) == expected
            assert stored_as(await ours_b.retrieve("visitor-1")) == expected
        return seen

    seen = asyncio.run(conversation())
    events, slots = seen[-1]
    # The second session (from turn 5) only, the latest list in the slot.
    assert [event.get("text") for event in events if event["event"] == "user"] == [
        "message 5", "message 6", "message 7"]
    assert slots["substances"] == ["substance 7"]


def statements_run(store, work) -> list[str]:
    run = []

    def record(_connection, _cursor, statement, *_args):
        run.append(statement.split()[0].upper())
    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        asyncio.run(work())
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    return run


def test_a_turn_reads_once_and_a_save_does_not_count(stores):
    ours, _, rasas = stores

    def turn_statements(store, sender_id):
        asyncio.run(serve_turn(store, sender_id, a_turn(0, new_session=True)))
        return statements_run(store, lambda: serve_turn(store, sender_id, a_turn(1)))

    ours_run = [s for s in turn_statements(ours, "visitor-ours") if s in ("SELECT", "INSERT")]
    rasas_run = [s for s in turn_statements(rasas, "visitor-rasa") if s in ("SELECT", "INSERT")]
    assert rasas_run.count("SELECT") == 2  # the session read, and the count before writing
    assert ours_run.count("SELECT") == 1
    assert "INSERT" in ours_run


def test_a_turn_reads_only_the_rows_written_since_the_last(stores):
    ours, _, rasas = stores

    async def conversation():
        await serve_turn(ours, "visitor-1", a_turn(0, new_session=True))
        await serve_turn(ours, "visitor-1", a_turn(1))
        # Rewriting an old row behind the store's back (nothing does: Rasa only appends) is
        # how a test can tell the old rows were not fetched again: our store still has the
        # text it read, Rasa's reads the whole session.
        with ours.engine.begin() as connection:
            connection.execute(sa.text(
                "UPDATE events SET data = replace(data, 'message 0', 'rewritten') "
                "WHERE sender_id = 'visitor-1'"))
        await serve_turn(ours, "visitor-1", a_turn(2))
        return await ours.retrieve("visitor-1"), await rasas.retrieve("visitor-1")

    ours_tracker, rasas_tracker = asyncio.run(conversation())
    assert "message 0" in [e.text for e in ours_tracker.events if isinstance(e, UserUttered)]
    assert "rewritten" in [e.text for e in rasas_tracker.events if isinstance(e, UserUttered)]
    assert [e.text for e in ours_tracker.events if isinstance(e, UserUttered)][1:] == [
        "message 1", "message 2"]


def test_rows_deleted_behind_the_store_are_noticed(stores):
    ours, _, rasas = stores

    async def conversation():
        for number in range(3):
            await serve_turn(ours, "visitor-1", a_turn(number, new_session=number == 0))
        with ours.engine.begin() as connection:
            connection.execute(sa.text(
                "DELETE FROM events WHERE sender_id = 'visitor-1' AND data LIKE '%reply 1%'"))
        partly = stored_as(await ours.retrieve("visitor-1"))
        assert partly == stored_as(await rasas.retrieve("visitor-1"))
        with ours.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM events WHERE sender_id = 'visitor-1'"))
        return partly, await ours.retrieve("visitor-1")

    partly, erased = asyncio.run(conversation())
    assert "reply 1" not in [event.get("text") for event in partly[0]]
    assert erased is None


def test_a_quiet_conversation_is_not_kept_in_memory(stores, monkeypatch):
    ours, _, _ = stores
    clock = [1000.0]
    monkeypatch.setattr(conversation_store.time, "monotonic", lambda: clock[0])

    async def two_conversations():
        await serve_turn(ours, "visitor-1", a_turn(0, new_session=True))
        await serve_turn(ours, "visitor-1", a_turn(1))
        remembered_after_a_turn = list(ours._remembered)
        clock[0] += conversation_store.REMEMBER_FOR_S + 1
        await serve_turn(ours, "visitor-2", a_turn(0, new_session=True))
        await serve_turn(ours, "visitor-2", a_turn(1))
        return remembered_after_a_turn, list(ours._remembered)

    before, after = asyncio.run(two_conversations())
    assert before == ["visitor-1"] and after == ["visitor-2"]


def test_a_quiet_conversation_leaves_memory_while_the_instance_serves_nothing(stores,
                                                                              monkeypatch):
    ours, _, _ = stores

    async def two_turns():
        await serve_turn(ours, "visitor-1", a_turn(0, new_session=True))
        await serve_turn(ours, "visitor-1", a_turn(1))
    asyncio.run(two_turns())
    assert list(ours._remembered) == ["visitor-1"]
    later = time.monotonic() + conversation_store.REMEMBER_FOR_S + 1
    monkeypatch.setattr(conversation_store.time, "monotonic", lambda: later)
    # The sweep's thread is woken rather than waited for (it looks every minute); no turn
    # is served from here on.
    conversation_store._QuietConversationSweep._wake.set()
    deadline = time.perf_counter() + 5
    while ours._remembered and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert list(ours._remembered) == []


@pytest.mark.parametrize("rows_written_after", [1, 2])
def test_a_row_id_given_out_again_after_a_deletion_is_not_taken_for_the_old_row(
        stores, rows_written_after):
    """SQLite numbers a new row one past the highest id left, so a deleted newest row's id
    goes to the next row written: count and newest id add up as if nothing had changed."""
    ours, _, rasas = stores

    async def conversation():
        for number in range(2):
            await serve_turn(ours, "visitor-1", a_turn(number, new_session=number == 0))
        await ours.retrieve("visitor-1")  # our store now knows the newest row, "reply 1"
        with ours.engine.begin() as connection:
            connection.execute(sa.text(
                "DELETE FROM events WHERE id = (SELECT max(id) FROM events)"))
        # Made now: an event stamped before the session started would not be in the session.
        turn = [BotUttered("written after the deletion"), ActionExecuted("action_listen")]
        await serve_turn(rasas, "visitor-1", turn[:rows_written_after])
        return (stored_as(await ours.retrieve("visitor-1")),
                stored_as(await rasas.retrieve("visitor-1")))

    ours_read, rasas_read = asyncio.run(conversation())
    texts = [event.get("text") for event in ours_read[0]]
    assert "reply 1" not in texts, texts
    assert "written after the deletion" in texts, texts
    assert ours_read == rasas_read


def test_a_row_that_could_not_be_decoded_is_read_again_once_mended(stores):
    ours, other_instance, rasas = stores

    def rewrite(old: str, new: str) -> None:
        with ours.engine.begin() as connection:
            connection.execute(sa.text("UPDATE events SET data = replace(data, :old, :new)"),
                               {"old": old, "new": new})

    async def conversation():
        await serve_turn(ours, "visitor-1", a_turn(0, new_session=True))
        await serve_turn(other_instance, "visitor-1", a_turn(1))
        rewrite('"text": "reply 1"', '"text": "reply 1')  # broken JSON, as a bad write
        with pytest.raises(ValueError):
            await ours.retrieve("visitor-1")
        rewrite('"text": "reply 1', '"text": "reply 1"')  # mended in place
        return (stored_as(await ours.retrieve("visitor-1")),
                stored_as(await rasas.retrieve("visitor-1")))

    ours_read, rasas_read = asyncio.run(conversation())
    assert "reply 1" in [event.get("text") for event in ours_read[0]]
    assert ours_read == rasas_read


def test_every_session_and_every_conversation_read_as_rasas_store_reads_them(stores):
    ours, _, rasas = stores

    async def conversations():
        for number in range(4):
            await serve_turn(ours, f"visitor-{number % 2}",
                             a_turn(number, new_session=number in (0, 1, 3)))
        return ([stored_as(await store.retrieve_full_tracker(f"visitor-{n}"))
                 for n in range(2) for store in (ours, rasas)]
                + [sorted(await store.keys()) for store in (ours, rasas)]
                + [await ours.retrieve_full_tracker("nobody")])

    o0, r0, o1, r1, our_keys, rasas_keys, nobody = asyncio.run(conversations())
    assert o0 == r0 and o1 == r1 and our_keys == rasas_keys == ["visitor-0", "visitor-1"]
    # Both sessions of visitor-1 (turns 1 and 3), where `retrieve` has only the latest.
    assert [e.get("text") for e in o1[0] if e["event"] == "user"] == ["message 1", "message 3"]
    assert nobody is None


def test_stored_events_decode_to_the_classes_rasas_lookup_finds(monkeypatch):
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    from connectors.rasa_server import find_event_classes_by_name_once

    monkeypatch.setattr(Event, "resolve_by_type", Event.resolve_by_type)
    rasas = Event.resolve_by_type
    names = {cls.type_name for cls in all_subclasses(Event)}
    expected = {name: rasas(name) for name in names}
    find_event_classes_by_name_once()
    assert Event.resolve_by_type is not rasas
    for _ in range(2):  # looked up, then remembered
        assert {name: Event.resolve_by_type(name) for name in names} == expected
    assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")
    assert Event.from_parameters({"event": "bot", "text": "hi"}) == BotUttered("hi")


def test_rows_are_written_as_rasas_store_writes_them(stores):
    ours, _, rasas = stores
    turn = a_turn(0, new_session=True) + [UserUttered(
        "what does it cost", intent={"name": "faq", "confidence": 0.9})]

    async def both():
        for store, sender_id in ((ours, "visitor-ours"), (rasas, "visitor-rasa")):
            tracker = await store.get_or_create_tracker(sender_id, append_action_listen=False)
            for event in turn:
                tracker.update(event)
            await store.save(tracker)

    asyncio.run(both())
    with ours.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
            "FROM events ORDER BY id")).all()
    assert [row[1:] for row in rows if row[0] == "visitor-ours"] == [
        row[1:] for row in rows if row[0] == "visitor-rasa"]
    assert ("user", "faq") in [(row[1], row[3]) for row in rows if row[0] == "visitor-ours"]


READS = {"retrieve": lambda store: store.retrieve("visitor-1"),
         "retrieve_full_tracker": lambda store: store.retrieve_full_tracker("visitor-1"),
         "keys": lambda store: store.keys()}


@pytest.mark.parametrize("read", READS)
def test_other_conversations_go_on_while_the_database_is_slow(tmp_path, read):
    """A query waiting on the database must not hold the instance's event loop, which every
    other conversation on it shares (PostgreSQL, production's engine: a table lock held by
    another connection makes the store's read wait)."""
    with stores_on("postgresql", tmp_path) as (ours, _, _):
        asyncio.run(serve_turn(ours, "visitor-1", a_turn(0, new_session=True)))
        blocker = ours.engine.connect()
        blocker.execute(sa.text("BEGIN"))
        blocker.execute(sa.text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        # Released from a thread of its own: a store that held the loop would never let a
        # coroutine release it.
        release = threading.Timer(0.5, lambda: blocker.execute(sa.text("ROLLBACK")))

        async def a_read_while_the_table_is_locked():
            ticks = 0

            async def another_conversation():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1
            ticking = asyncio.create_task(another_conversation())
            await asyncio.sleep(0)
            release.start()
            answer = await READS[read](ours)
            ticking.cancel()
            return ticks, answer

        try:
            ticks_during_the_read, answer = asyncio.run(a_read_while_the_table_is_locked())
        finally:
            release.join()
            blocker.close()
    assert ticks_during_the_read >= 10
    if read == "keys":
        assert list(answer) == ["visitor-1"]
    else:
        assert [e.text for e in answer.events if isinstance(e, UserUttered)] == ["message 0"]
