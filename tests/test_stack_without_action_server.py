"""The crisis reply does not depend on the action server being up."""
import pytest

from scripts.rest_client import WebsiteConversation
from tests.stack_helpers import throwaway_stack

pytestmark = pytest.mark.stack


def test_crisis_is_answered_even_when_the_action_server_is_down(tmp_path):
    with throwaway_stack(tmp_path) as stack:
        action_server = stack.processes[0]
        action_server.terminate()
        action_server.wait(timeout=30)
        replies = WebsiteConversation(stack.rasa_url).texts("my friend isn't breathing")
        assert any("911" in reply and "988" in reply for reply in replies)
        # In Spanish too: the language slot and the reply's variation are Rasa's own work.
        replies = WebsiteConversation(stack.rasa_url).texts("mi amigo no respira")
        assert any("911" in reply and "AYUDA" in reply for reply in replies)
        # Anything else that needs the action server gets a kind "try again", never silence.
        replies = WebsiteConversation(stack.rasa_url).texts("get started")
        assert replies and "something went wrong" in replies[-1]
