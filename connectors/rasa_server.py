"""The Rasa server process as we run it: private files and PHI-free logs, then `rasa run`.

Both must be in place before Rasa writes its first file or log line, so they are set here,
in the process itself, rather than by whoever starts it (bot/server_process.py).
Arguments are `rasa`'s own: `python -m connectors.rasa_server run --model ...`; `run` gets
the HTTP API's token from RASA_API_TOKEN or its file (VAR_DIR) unless one is given.
"""
from __future__ import annotations

import sys

from bot.server_process import prepare_server_process


def check_action_replies_with_one_validator() -> None:
    """Rasa checks every action server reply with `jsonschema.validate`, which first checks the
    schema itself against the JSON Schema meta-schema: in the end-to-end tests that was over
    half the Rasa process's CPU, on every form step. The schema never changes, so it is
    checked once and its validator kept; replies are judged exactly as before.
    """
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    original = RemoteAction._validate_action_result

    def validate_action_result(self: RemoteAction, result: dict) -> bool:
        if validator.is_valid(result):
            return True
        # Invalid replies are rare: Rasa's own path builds its error message.
        return original(self, result)

    RemoteAction._validate_action_result = validate_action_result


def main() -> None:
    prepare_server_process()
    check_action_replies_with_one_validator()
    from rasa.__main__ import main as rasa_main

    arguments = sys.argv[1:]
    if arguments[:1] == ["run"] and "--auth-token" not in arguments:
        # The HTTP API's token, from its owner-only file: given here, inside the process, it
        # never appears on a command line that any user of the machine can list.
        from bot.local_secrets import rasa_api_token
        from bot.settings import load_settings

        arguments += ["--auth-token", rasa_api_token(load_settings())]
    sys.argv = ["rasa", *arguments]
    rasa_main()


if __name__ == "__main__":
    main()
