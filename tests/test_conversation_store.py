"""Each turn's new events reach the event broker once, in order, as Rasa's own store sends
them, without the store reading the conversation back on every save."""
from __future__ import annotations

import asyncio

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.conversation_store import CountingSQLTrackerStore


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
    ours, our_stored, our_reads = a_conversation_in_two_turns(CountingSQLTrackerStore, tmp_path)
    rasas, rasas_stored, rasas_reads = a_conversation_in_two_turns(SQLTrackerStore, tmp_path)
    assert ours == rasas
    assert [event for _, event, _ in ours] == [
        "action", "session_started", "action", "user", "bot", "action", "user"]
    assert our_stored == rasas_stored == [
        "session_started", "action", "user", "bot", "action", "user"]
    assert rasas_reads == ["visitor-1", "visitor-1"] and our_reads == []
