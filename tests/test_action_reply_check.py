"""Action server replies are checked with one kept validator (connectors/rasa_server.py)."""
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from connectors.rasa_server import check_action_replies_with_one_validator


@pytest.fixture
def remote_action(monkeypatch):
    monkeypatch.setattr(RemoteAction, "_validate_action_result",
                        RemoteAction._validate_action_result)
    check_action_replies_with_one_validator()
    return RemoteAction("action_example", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_a_well_formed_reply_is_accepted(remote_action):
    reply = {"events": [{"event": "slot", "name": "ps_first_name", "value": "Sam"}],
             "responses": [{"text": "Thanks."}]}
    assert remote_action._validate_action_result(reply) is True


@pytest.mark.parametrize("reply", [
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"events": [{"event": "no_such_event"}]},
    {"responses": [42]},
])
def test_a_malformed_reply_is_refused_as_rasa_refuses_it(remote_action, reply):
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        remote_action._validate_action_result(reply)
