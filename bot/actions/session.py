"""Starts each conversation: facility facts into slots, then the automated-assistant notice."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        facility_slots = current_profile().reply_slots()
        carried_over = [
            SlotSet(name, value)
            for name, value in tracker.current_slot_values().items()
            if value is not None and name not in facility_slots
        ]
        # Rasa sends dispatched messages before the returned events are applied, so the
        # facility values are passed explicitly rather than read back from the new slots.
        dispatcher.utter_message(response="utter_disclosure", **facility_slots)
        return [
            SessionStarted(),
            *carried_over,
            *(SlotSet(name, value) for name, value in facility_slots.items()),
            ActionExecuted("action_listen"),
        ]
