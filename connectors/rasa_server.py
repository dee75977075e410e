"""The Rasa server process as we run it: private files and PHI-free logs, then `rasa run`.

Both must be in place before Rasa writes its first file or log line, so they are set here,
in the process itself, rather than by whoever starts it (bot/server_process.py).
Arguments are `rasa`'s own: `python -m connectors.rasa_server run --model ...`.
"""
from __future__ import annotations

import sys

from bot.server_process import prepare_server_process


def main() -> None:
    prepare_server_process()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
