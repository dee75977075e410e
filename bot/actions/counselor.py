"""Points the person to a human admissions counselor, honest about whether anyone is on shift."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ActionConnectCounselor(Action):
    def name(self) -> str:
        return "action_connect_counselor"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        profile = current_profile()
        is_open = profile.is_admissions_open(utc_now())
        dispatcher.utter_message(
            response="utter_counselor_open" if is_open else "utter_counselor_closed",
            **profile.reply_slots(),
        )
        return []
