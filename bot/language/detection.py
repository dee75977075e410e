"""Guesses a message's language from the word lists in bot/language/*.yml; no Rasa import.

Deliberately cautious: a language is named only on clear evidence (a greeting, two of its
common words, or nothing but its common words; and more of them than of any other
language's), because a wrong guess would take a short answer like "sí" or "ok" away from the
pre-screen that reads it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.language import DOMAIN_LANGUAGE
from bot.safety.folding import fold

# Common words needed before a message is taken as written in a language (a greeting counts
# on its own).
MIN_MARKERS = 2

_WORDS = re.compile(r"[a-z']+")
# "holaaaa" -> "hola": a stretched word still counts.
_STRETCHED = re.compile(r"([a-z])\1{2,}")


@dataclass(frozen=True)
class LanguageProfile:
    code: str
    greetings: tuple[str, ...]
    markers: frozenset[str]
    # Answers the pre-screen accepts ("sí"): never enough on their own.
    short_answers: frozenset[str]
    asks_for_a_person: tuple[str, ...]


def load_profiles(directory: Path) -> list[LanguageProfile]:
    """One profile for each bot/language/<code>.yml, in file-name order."""
    profiles = []
    for path in sorted(Path(directory).glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        profiles.append(LanguageProfile(
            code=data.get("language") or path.stem,
            greetings=tuple(_words_of(g) for g in data.get("greetings") or []),
            markers=frozenset(data.get("markers") or []),
            short_answers=frozenset(_words_of(a) for a in data.get("short_answers") or []),
            asks_for_a_person=tuple(_words_of(p) for p in data.get("asks_for_a_person") or []),
        ))
    return profiles


def guess_language(text: str | None, profiles: list[LanguageProfile]) -> str | None:
    """The language the message is clearly written in, or None when unsure."""
    words = _words_of(text or "")
    present = set(words.split())
    padded = f" {words} "
    scores = {}
    for profile in profiles:
        markers = len(present & profile.markers)
        greeted = any(f" {greeting} " in padded for greeting in profile.greetings)
        only_its_words = bool(present) and present <= profile.markers and (
            words not in profile.short_answers)
        if markers >= MIN_MARKERS or greeted or only_its_words:
            scores[profile.code] = markers + greeted
    if not scores:
        return None
    best = max(scores, key=scores.get)
    rivals = [
        len(present & profile.markers) for profile in profiles if profile.code != best
    ]
    return best if all(scores[best] > rival for rival in rivals) else None


def language_with_some_evidence(
    text: str | None, profiles: list[LanguageProfile]
) -> str | None:
    """A language other than the domain's with at least one of its words and more of them
    than of any other: enough to back a classifier that already said `other_language`."""
    present = set(_words_of(text or "").split())
    counts = {profile.code: len(present & profile.markers) for profile in profiles}
    best = max(counts, key=counts.get, default=None)
    if best is None or best == DOMAIN_LANGUAGE or counts[best] == 0:
        return None
    return best if all(counts[best] > n for code, n in counts.items() if code != best) else None


def language_asking_for_a_person(
    text: str | None, profiles: list[LanguageProfile]
) -> str | None:
    """The language of the words asking for a person ("consejero"), if the message has any."""
    padded = f" {_words_of(text or '')} "
    for profile in profiles:
        if any(f" {phrase} " in padded for phrase in profile.asks_for_a_person):
            return profile.code
    return None


def _words_of(text: str) -> str:
    return " ".join(_WORDS.findall(_STRETCHED.sub(r"\1", fold(text))))
