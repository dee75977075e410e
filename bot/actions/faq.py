"""Answers a question about the program: the picked topic's answer filled from the facility
profile, or an honest "I don't have that detail" when the profile lacks the fact."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.facility_context import current_profile
from bot.faq_answers import INSURANCE_TOPIC, answer_for
from bot.faq_topics import RETRIEVAL_INTENT, load_topics, topic_key
from bot.prescreen.extraction import canonical_carriers, carrier_in

logger = logging.getLogger(__name__)


def picked_topic(latest_message: dict) -> str | None:
    """The topic the NLU pipeline picked for the latest message (`drug_testing`)."""
    selection = ((latest_message.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {})
    return topic_key((selection.get("response") or {}).get("intent_response_key"))


# The accepted plans are read from the profile once per process.
_accepted_carriers = lru_cache(maxsize=4)(canonical_carriers)


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        latest = tracker.latest_message or {}
        key = picked_topic(latest)
        profile = current_profile()
        if key is None:
            dispatcher.utter_message(response="utter_question_not_covered",
                                     **profile.reply_slots())
            return []
        insurer = carrier_in(latest.get("text")) if key == INSURANCE_TOPIC else None
        answer = answer_for(key, load_topics(), profile, tracker.get_slot("language"),
                            insurer, _accepted_carriers(profile.accepted_insurers))
        # The topic and the reply chosen, never the question or the plan named.
        logger.info("question answered: topic=%s reply=%s", key, answer.response)
        dispatcher.utter_message(response=answer.response, **profile.reply_slots(),
                                 **profile.detail_values(), **answer.values)
        return []
