"""The fallback ladder: clarify with the closest topics first, then offer a counselor."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile
from bot.actions.handoff import hand_off
from bot.actions.lead_from_tracker import partial_lead_from
from bot.fallback_ladder import closest_topics, consecutive_misses, next_fallback_step, or_list
from bot.faq_topics import load_topics
from bot.leads.submission import HandoffPriority

logger = logging.getLogger(__name__)

_RESPONSE_FOR_STEP = {
    "empty": "utter_empty_message",
    "clarify_topics": "utter_clarify_topics",
    "clarify_generic": "utter_clarify_generic",
    "offer_counselor": "utter_offer_counselor_after_misses",
}


def _user_intents_newest_first(tracker: Tracker) -> list[str | None]:
    return [
        (event.get("parse_data") or {}).get("intent", {}).get("name")
        for event in reversed(tracker.events)
        if event.get("event") == "user"
    ]


class ActionFallbackLadder(Action):
    def name(self) -> str:
        return "action_fallback_ladder"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        intent = (latest.get("intent") or {}).get("name")
        # The dialogue's own fallback (no rule matched) arrives with an understood intent;
        # count it as a miss too so the ladder still climbs.
        misses = max(1, consecutive_misses(_user_intents_newest_first(tracker)))
        step = next_fallback_step(latest.get("text"), intent, misses)
        ranking = (
            ((latest.get("response_selector") or {}).get("faq") or {}).get("ranking") or []
        )
        topics = closest_topics(ranking, load_topics(), tracker.get_slot("language"))
        if step == "clarify_topics" and not topics:
            step = "clarify_generic"
        logger.info("fallback ladder: step=%s misses=%d", step, misses)
        dispatcher.utter_message(
            response=_RESPONSE_FOR_STEP[step],
            suggested_topics=or_list(topics),
            **current_profile().reply_slots(),
        )
        if step == "offer_counselor":
            # The end of the ladder is a person, never a dead end.
            return await hand_off(dispatcher, tracker, "fallback", HandoffPriority.ROUTINE,
                                  partial_lead_from(tracker))
        return []
