"""The crisis guard (NLU) and the crisis policy (dialogue), each on its own."""
import pytest
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.crisis_guard import CrisisGuard
from bot.nlu.no_words_guard import NoWordsGuard
from bot.policies.crisis_policy import crisis_next_action

GUARD = CrisisGuard(CrisisGuard.get_default_config())


def _classified(text, intent, confidence=0.9):
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": confidence})
    message.set("intent_ranking", [{"name": intent, "confidence": confidence},
                                   {"name": "crisis", "confidence": 0.05}])
    return message


def test_guard_overrides_a_wrong_classifier_guess():
    [message] = GUARD.process([_classified("my son is not breathing", "faq")])
    assert message.get("intent") == {"name": "crisis", "confidence": 1.0}
    ranking = [entry["name"] for entry in message.get("intent_ranking")]
    assert ranking == ["crisis", "faq"]


def test_guard_overrides_a_low_confidence_fallback():
    [message] = GUARD.process([_classified("gonna off myself", "nlu_fallback", 0.3)])
    assert message.get("intent")["name"] == "crisis"


def test_guard_leaves_ordinary_messages_alone():
    [message] = GUARD.process(
        [_classified("my brother died of an overdose last year", "share_hardship")])
    assert message.get("intent") == {"name": "share_hardship", "confidence": 0.9}


def _tracker(*events):
    return DialogueStateTracker.from_events("test", [ActionExecuted("action_listen"), *events])


def _user(intent):
    return UserUttered("...", intent={"name": intent, "confidence": 1.0})


@pytest.mark.parametrize(
    "events, expected",
    [
        ([_user("crisis")], "utter_crisis"),
        ([_user("crisis"), ActionExecuted("utter_crisis"), BotUttered("911...")], "action_listen"),
        ([_user("crisis"), ActionExecuted("utter_crisis"), ActionExecuted("action_listen")], None),
        ([_user("faq")], None),
        ([_user("crisis"), ActionExecuted("utter_crisis"), ActionExecuted("action_listen"),
          _user("faq")], None),
        # A form in the middle of asking its questions does not delay the crisis reply.
        ([ActiveLoop("prescreen_form"), ActionExecuted("prescreen_form"),
          ActionExecuted("action_listen"), _user("crisis")], "utter_crisis"),
    ],
)
def test_policy_answers_crisis_once_then_listens(events, expected):
    assert crisis_next_action(_tracker(*events)) == expected


def test_policy_answers_even_when_session_start_failed():
    # No action_listen before the message: what a failed custom session start leaves behind.
    tracker = DialogueStateTracker.from_events(
        "test", [ActionExecuted("action_session_start"), _user("crisis")]
    )
    assert crisis_next_action(tracker) == "utter_crisis"


@pytest.mark.parametrize("text", ["", "   ", "\U0001F44D\U0001F44D"])
def test_no_words_guard_turns_wordless_messages_into_a_fallback(text):
    [message] = NoWordsGuard({}).process([_classified(text, "affirm")])
    assert message.get("intent") == {"name": "nlu_fallback", "confidence": 1.0}


def test_no_words_guard_leaves_real_words_alone():
    [message] = NoWordsGuard({}).process([_classified("yes", "affirm")])
    assert message.get("intent")["name"] == "affirm"
