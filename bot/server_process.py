"""What every server process of ours sets up first, before any library loads or logs.

- umask 077: whatever the process writes (the SQLite stores, keys, spool files) is its
  owner's alone from the moment it exists;
- PHI redaction on every log record (bot/log_redaction.py);
- third-party warnings go to the log, shown only at DEBUG: Sanic resets the warning filters
  when it is imported, so PYTHONWARNINGS alone cannot keep a newcomer's first screen free of
  pages of deprecation notices from libraries we do not control.
"""
from __future__ import annotations

import logging
import os

from bot.log_redaction import install_log_redaction


def prepare_server_process() -> None:
    os.umask(0o077)
    install_log_redaction()
    logging.captureWarnings(True)
    show_warnings = os.environ.get("LOG_LEVEL", "INFO").upper() == "DEBUG"
    logging.getLogger("py.warnings").setLevel(logging.WARNING if show_warnings else logging.ERROR)
