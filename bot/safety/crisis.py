"""Deterministic crisis detector: regular expressions kept as data, no Rasa import.

It backs up the classifier's `crisis` intent so that a message about suicide, self-harm,
harming someone, an overdose or a medical emergency escalates even when the model is unsure.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

# The intent the NLU guard forces and the dialogue policy answers; one name for both.
CRISIS_INTENT = "crisis"

APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


@dataclass(frozen=True)
class CrisisMatch:
    # Only the category is exposed: callers log it, never the text that matched.
    category: str


class CrisisDetector:
    def __init__(self, patterns: dict[str, list[str]], not_crisis_contexts: list[str]):
        self._patterns = {
            category: [re.compile(p, re.IGNORECASE) for p in regexes]
            for category, regexes in patterns.items()
        }
        self._not_crisis = [re.compile(p, re.IGNORECASE) for p in not_crisis_contexts]

    @classmethod
    def from_file(cls, path: Path) -> CrisisDetector:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        return cls(data["crisis"], data.get("not_crisis_contexts") or [])

    def detect(self, text: str | None) -> CrisisMatch | None:
        """The first crisis category the message matches, or None."""
        normalised = normalise(text or "")
        if not normalised:
            return None
        for context in self._not_crisis:
            normalised = context.sub(" ", normalised)
        for category, regexes in self._patterns.items():
            if any(regex.search(normalised) for regex in regexes):
                return CrisisMatch(category)
        return None


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, accents folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(APOSTROPHES).lower()
    return " ".join(text.split())


@lru_cache(maxsize=4)
def detector_from(path: Path) -> CrisisDetector:
    return CrisisDetector.from_file(path)
