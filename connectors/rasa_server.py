"""The Rasa server process as we run it: private files and PHI-free logs, then `rasa run`.

Both must be in place before Rasa writes its first file or log line, so they are set here,
in the process itself, rather than by whoever starts it:
- umask 077: the conversation store (SQLite), keys and spool files are the owner's alone;
- the log redaction of bot/log_redaction.py, which Rasa's own DEBUG and error logs need.
Arguments are `rasa`'s own: `python -m connectors.rasa_server run --model ...`.
"""
from __future__ import annotations

import os
import sys

from bot.log_redaction import install_log_redaction


def main() -> None:
    os.umask(0o077)
    install_log_redaction()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
