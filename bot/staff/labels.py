"""The console's words (bot/staff/console_words.yml): data a center edits, not code."""
from __future__ import annotations

from pathlib import Path

import yaml

WORDS_PATH = Path(__file__).with_name("console_words.yml")
CONSOLE_WORDS: dict = yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))
