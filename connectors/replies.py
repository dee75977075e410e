"""Replies a channel sends itself, in the words the domain gives them (bot/domain/*.yml).

The channels answer some messages without the dialogue: the crisis reply when the assistant
was silent, a rate limit, an error. The words still come from the domain, so a center edits
them in one place and a second language is a response variation, not code: a variation may
name a `channel` and a `condition` on the `language` slot, as Rasa's own responses do.
"""
from __future__ import annotations

import string
from functools import lru_cache
from typing import Any

import yaml

from bot.facility import readable_profile
from bot.language import DOMAIN_LANGUAGE, without_profile_values
from bot.settings import BOT_DIR, load_settings

DEFAULT_LANGUAGE = DOMAIN_LANGUAGE


@lru_cache(maxsize=1)
def _responses() -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((BOT_DIR / "domain").glob("*.yml")):
        domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged.update(domain.get("responses") or {})
    return merged


def _language_of(variation: dict[str, Any]) -> str | None:
    for condition in variation.get("condition") or ():
        if condition.get("type") == "slot" and condition.get("name") == "language":
            return condition.get("value")
    return None


def channel_reply(name: str, channel: str | None = None, language: str = DEFAULT_LANGUAGE,
                  **values: str) -> dict[str, Any]:
    """The response's best variation for this channel and language, filled from the profile
    and `values`.

    A message dict as Rasa's output channels collect it: "text", and "custom" when the
    variation carries a payload (the voice channel's offer to connect to 988).
    """
    # A variation for another channel never fits (a voice reply's "press 1" on a website).
    candidates = [v for v in _responses()[name] if v.get("channel") in (None, channel)]

    def fit(variation: dict[str, Any]) -> tuple[bool, bool, bool]:
        variation_language = _language_of(variation) or DEFAULT_LANGUAGE
        return (variation_language == language, variation_language == DEFAULT_LANGUAGE,
                variation.get("channel") == channel)

    best = max(candidates, key=fit)
    filled = {**profile_slots(language), **values}
    message: dict[str, Any] = {
        "text": string.Formatter().vformat(best["text"], (), _Missing(filled))}
    if best.get("custom"):
        message["custom"] = best["custom"]
    return message


def profile_slots(language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """The profile's values, or the language's stand-in words ("the center's admissions
    line") when it cannot be read (a center's mistake saved after the servers started): the
    crisis reply, which names no center fact, must still go out, and an error reply must not
    say "call {facility_phone}"."""
    profile = readable_profile(load_settings().facility_profile_path)
    return profile.reply_slots() if profile else without_profile_values(language)


def all_texts_of(name: str) -> frozenset[str]:
    """Every wording of a response, to recognise it among a reply's messages."""
    return frozenset(v["text"].strip() for v in _responses()[name] if v.get("text"))


class _Missing(dict):
    """Leaves a placeholder the profile does not fill as it is, rather than failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
