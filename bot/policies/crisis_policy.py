"""Dialogue policy that answers a `crisis` message with the 911/988 reply, whatever else goes on.

Rules alone are not enough: they only match when the conversation looks like the training
data. If the action server failed at session start, if a form is active, or if a later
feature adds a flow nobody wrote a crisis rule for, a rule can silently miss. This policy
looks only at the latest user message, so "crisis in, crisis reply out" holds mid-anything.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.safety.crisis import CRISIS_INTENT

logger = logging.getLogger(__name__)

CRISIS_RESPONSE = "utter_crisis"
# Above RulePolicy (6), so a tie at confidence 1.0 goes to the crisis reply.
CRISIS_POLICY_PRIORITY = 7


def crisis_next_action(tracker: DialogueStateTracker) -> str | None:
    """`utter_crisis` once after a crisis message, then `action_listen`; None otherwise."""
    answered = False
    latest_action = None
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecuted):
            latest_action = latest_action or event.action_name
            answered = answered or event.action_name == CRISIS_RESPONSE
        elif isinstance(event, UserUttered):
            if event.intent_name != CRISIS_INTENT:
                return None
            if not answered:
                return CRISIS_RESPONSE
            return ACTION_LISTEN_NAME if latest_action == CRISIS_RESPONSE else None
    return None


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class CrisisPolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": CRISIS_POLICY_PRIORITY}

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        # Nothing to learn: the behaviour is fixed on purpose.
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = crisis_next_action(tracker)
        if action is None:
            return self._prediction(probabilities)
        probabilities[domain.index_for_action(action)] = 1.0
        if action == CRISIS_RESPONSE:
            logger.info("crisis policy: answering with %s", CRISIS_RESPONSE)
        # Marked as a "no user" prediction only because Rasa's ensemble lets those overrule
        # everything else (an active form's next question included); with our higher
        # priority, the crisis reply then wins every tie.
        return self._prediction(probabilities, is_no_user_prediction=True)
