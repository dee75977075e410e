"""Which language a message is written in, and a language's own stand-in words, from data kept
one file a language (bot/language/<code>.yml)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGE_DIR = Path(__file__).resolve().parent
# The language the domain's default replies are written in. Other languages' replies are
# response variations with a condition on the `language` slot.
DOMAIN_LANGUAGE = "en"


@lru_cache(maxsize=8)
def without_profile_values(language: str = DOMAIN_LANGUAGE) -> dict[str, str]:
    """The words a reply uses for the center's details when the profile cannot be read, in
    this language, or in the domain's language when this one has none."""
    for code in (language, DOMAIN_LANGUAGE):
        if not code.isalpha():  # a code names a file here, never a path
            continue
        path = LANGUAGE_DIR / f"{code}.yml"
        if path.is_file():
            words = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("without_profile")
            if isinstance(words, dict) and words:
                return {str(key): str(value) for key, value in words.items()}
    return {}
