"""Deterministic crisis detector: regular expressions kept as data, one file per language.

It backs up the classifier's `crisis` intent so that a message about suicide, self-harm,
harming someone, an overdose or a medical emergency escalates even when the model is unsure.
The patterns run on RE2, whose matching time is linear in the message's length whatever the
pattern, so no message, however long or odd, can stall the net. No Rasa import.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import re2
import yaml

from bot.safety.folding import folding_table, spellings

# The intent the NLU guard forces and the dialogue policy answers; one name for both.
CRISIS_INTENT = "crisis"

# Used by the pre-screen's answer parsing too (bot/prescreen), which reads text as typed.
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


@dataclass(frozen=True)
class CrisisMatch:
    # Only the category and the language are exposed: callers log them and pick the reply's
    # language, never the text that matched.
    category: str
    language: str


@dataclass(frozen=True)
class _LanguagePatterns:
    language: str
    # One alternation per category, so each category costs one pass over the message.
    categories: dict[str, re2._Regexp]
    # Figures of speech and losses: always blanked out.
    not_crisis: re2._Regexp | None
    # The past and the hypothetical ("overdosed back in 2019", "what if someone overdoses"):
    # blanked out unless the message also says it is happening now ("again", "tonight").
    history: re2._Regexp | None
    happening_now: re2._Regexp | None


class CrisisDetector:
    def __init__(self, pattern_sets: Mapping[str, Mapping]) -> None:
        """`pattern_sets`: language code -> {"crisis": {category: [regex, ...]},
        "not_crisis_contexts": [...], "history_contexts": [...], "happening_now": [...],
        "spelled_out_words": [word, ...]}, as in bot/safety/patterns/*.yml."""
        self._languages = [
            _LanguagePatterns(
                language,
                {category: _compile(regexes) for category, regexes in data["crisis"].items()},
                _compile(data.get("not_crisis_contexts") or []),
                _compile(data.get("history_contexts") or []),
                _compile(data.get("happening_now") or []),
            )
            for language, data in pattern_sets.items()
        ]
        words = {str(word) for data in pattern_sets.values()
                 for word in data.get("spelled_out_words") or ()}
        # Longest first, so "myself" is set apart whole rather than as "my" + "self".
        self._spelled_out_words = re2.compile("|".join(
            re2.escape(word) for word in sorted(words, key=len, reverse=True))) if words else None
        # Built now (a third of a second) rather than on the first message.
        folding_table()

    @classmethod
    def from_file(cls, path: Path) -> CrisisDetector:
        """From one language's pattern file, or from a directory of them (`en.yml`, ...)."""
        path = Path(path)
        files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"no crisis pattern files in {path}")
        pattern_sets = {}
        for file in files:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
            pattern_sets[data.get("language") or file.stem] = data
        return cls(pattern_sets)

    @property
    def languages(self) -> list[str]:
        return [patterns.language for patterns in self._languages]

    def compiled_patterns(self) -> Iterator[re2._Regexp]:
        """Every compiled expression the detector runs (tests check they are RE2's)."""
        for patterns in self._languages:
            yield from patterns.categories.values()
            yield from (regex for regex in (patterns.not_crisis, patterns.history,
                                            patterns.happening_now) if regex is not None)

    def detect(self, text: str | None) -> CrisisMatch | None:
        """The first crisis category (and its language) the message matches, or None."""
        readings = [reading for reading in spellings(text, self._spelled_out_words) if reading]
        # Past losses and figures of speech are blanked out first, in every language's
        # terms, so "died of an overdose last year" cannot escalate in any of them; the past
        # only when nothing says it is happening again or now.
        now = any(patterns.happening_now.search(reading) for patterns in self._languages
                  if patterns.happening_now is not None for reading in readings)
        for patterns in self._languages:
            for blank in (patterns.not_crisis, None if now else patterns.history):
                if blank is not None:
                    readings = [blank.sub(" ", reading) for reading in readings]
        for patterns in self._languages:
            for category, regex in patterns.categories.items():
                if any(regex.search(reading) for reading in readings):
                    return CrisisMatch(category, patterns.language)
        return None


def _compile(regexes: list[str]) -> re2._Regexp | None:
    if not regexes:
        return None
    for regex in regexes:
        try:
            re2.compile(letter_runs_allowed(regex))
        except re2.error as error:
            raise ValueError(f"crisis pattern is not valid RE2 syntax: {regex!r}") from error
    return re2.compile("|".join(f"(?:{letter_runs_allowed(regex)})" for regex in regexes))


_QUANTIFIERS = ("*", "+", "{")


def letter_runs_allowed(pattern: str) -> str:
    """The pattern with each literal letter also matching a run of itself: "die" -> "d+i+e+".

    People stretch words ("killlll myselffff", "diiiie"), and squeezing the message instead
    cannot be done safely: squeezed to two letters "diiie" stays unreadable, squeezed to one
    "kill" becomes "kil" and "off myself" becomes "of myself". A pattern letter matching a
    run keeps double letters double ("l+l+" needs two) and reads any stretch. A letter written
    in [brackets] matches exactly once: "o[d]" so that "odd" is not "od" (an overdose).
    Escapes (\\b, \\s), [classes], (?: groups and {m,n} counts are left alone.
    """
    out: list[str] = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if character == "\\":
            end = index + 2
        elif character == "[":
            end = _end_of_class(pattern, index)
        elif pattern.startswith("(?", index):
            end = _first_of(pattern, ":)>", index + 2) + 1
        elif character == "{":
            end = pattern.index("}", index) + 1
        elif "a" <= character <= "z":
            following = pattern[index + 1:index + 2]
            if following == "?":
                out.append(character + "*")
                index += 2
                continue
            out.append(character if following in _QUANTIFIERS else character + "+")
            index += 1
            continue
        else:
            end = index + 1
        out.append(pattern[index:end])
        index = end
    return "".join(out)


def _end_of_class(pattern: str, start: int) -> int:
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def _first_of(pattern: str, characters: str, start: int) -> int:
    return min((i for i in (pattern.find(c, start) for c in characters) if i >= 0),
               default=len(pattern) - 1)


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, compatibility forms folded, whitespace collapsed.

    For reading pre-screen answers as typed; the crisis net reads `folding.spellings`.
    """
    text = unicodedata.normalize("NFKC", text).translate(APOSTROPHES).lower()
    return " ".join(text.split())


@lru_cache(maxsize=4)
def detector_from(path: Path) -> CrisisDetector:
    return CrisisDetector.from_file(path)

