"""Words the speech recogniser should expect on our calls, from the pre-screen's own patterns.

"Suboxone", "Ambetter" or "fetty" are rare in everyday speech; hinting them to <Gather>
makes a caller's answer come back spelled the way the pre-screen recognises it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PATTERNS_DIR = Path(__file__).resolve().parent.parent / "prescreen" / "patterns"
# Twilio accepts up to 500 hints of at most 100 characters.
MAX_HINTS = 500
CONVERSATION_WORDS = ("counselor", "intensive outpatient", "detox", "insurance", "self-pay",
                      "pre-screen", "get started", "Medicaid", "Medicare")


@lru_cache(maxsize=1)
def speech_hints() -> str:
    hints: list[str] = list(CONVERSATION_WORDS)
    for name in ("insurers.yml", "substances.yml"):
        groups = yaml.safe_load((PATTERNS_DIR / name).read_text(encoding="utf-8")) or {}
        for canonical, spellings in groups.items():
            hints.append(str(canonical))
            hints.extend(str(s) for s in spellings or [])
    seen: set[str] = set()
    unique = []
    for hint in hints:
        key = hint.lower().replace("_", " ")
        # One- and two-letter slang ("h", "kp") would only bias ordinary words.
        if len(key) > 2 and key not in seen and len(key) <= 100:
            seen.add(key)
            unique.append(hint.replace("_", " "))
    return ", ".join(unique[:MAX_HINTS])
