"""Turns the assistant's written replies into words a text-to-speech voice reads well.

Replies are written once, for the screen and SMS. On a call, a URL or an emoji is noise,
markdown is read out as symbols, and a phone number read as "five hundred fifty-five" cannot
be dialled from memory, so numbers people need to dial are read digit by digit.
"""
from __future__ import annotations

import re
import unicodedata

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(.+?)\1")
_MD_LINE_MARK = re.compile(r"^\s*(?:#{1,6}\s+|[-*•]\s+|>\s+)", re.MULTILINE)
# US numbers however written: 1-800-662-4357, (555) 010-4400, 312.555.0142, +13125550142.
_PHONE = re.compile(
    r"(?<![\d$])(?:\+?1[-. ]?)?\(?(\d{3})\)?[-. ]?(\d{3})[-. ]?(\d{4})(?!\d)"
)
_SHORT_CODES = re.compile(r"(?<![\d$.,])\b(988|911)\b(?![\d,])")
_ZIP = re.compile(r"(?<![\d$.,])\b(\d{5})\b(?![\d,])")
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm)\b", re.IGNORECASE)
# A numbered menu written for a screen ("Reply 1) daily, 2) ...") said as keypad choices.
_MENU_ITEM = re.compile(r"(?<!\w)(\d)\)\s+")
_REPLY_VERB = re.compile(r"\b(R|r)eply( with)?\b")
_SPOKEN_WORDS = {
    r"\bIOP\b": "I.O.P.",
    r"\bDTs\b": "D.T.'s",
    r"\b24/7\b": "24 hours a day, 7 days a week",
    r"\bSAMHSA\b": "Samsa",
    r"\bMOUD\b": "medication for opioid use",
    r"\s&\s": " and ",
}


def _digits(*groups: str) -> str:
    return ", ".join(" ".join(group) for group in groups)


def _is_emoji_or_symbol(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in ("So", "Sk", "Cs", "Co") or ch in "\u200d\ufe0f\ufe0e" or 0x1F000 <= ord(ch)


def speakable(text: str) -> str:
    """The same reply, ready for <Say>: no URLs, emoji or markdown; numbers said to dial."""
    spoken = _MD_LINK.sub(r"\1", text)
    spoken = _URL.sub("", spoken)
    spoken = _MD_EMPHASIS.sub(r"\2", spoken)
    spoken = _MD_LINE_MARK.sub("", spoken)
    spoken = "".join(ch for ch in spoken if not _is_emoji_or_symbol(ch))
    spoken = re.sub(r"\+?1-800-(\d{3})-(\d{4})", lambda m: "1, " + _digits("800", m[1], m[2]),
                    spoken)
    spoken = _PHONE.sub(lambda m: _digits(m[1], m[2], m[3]), spoken)
    spoken = _SHORT_CODES.sub(lambda m: " ".join(m[1]), spoken)
    spoken = _ZIP.sub(lambda m: " ".join(m[1]), spoken)
    spoken = _CLOCK.sub(lambda m: f"{m[1]}{':' + m[2] if m[2] else ''} "
                                  f"{'a.m.' if m[3].lower() == 'am' else 'p.m.'}", spoken)
    spoken = re.sub(r"\b([ap])\.m\.\.", r"\1.m.", spoken)  # "8am." said once, not "8 a.m.."
    if _MENU_ITEM.search(spoken):
        spoken = _REPLY_VERB.sub(lambda m: "Press or say" if m[1] == "R" else "press or say",
                                 spoken)
        spoken = _MENU_ITEM.sub(r"\1 for ", spoken)
    for pattern, words in _SPOKEN_WORDS.items():
        spoken = re.sub(pattern, words, spoken)
    spoken = re.sub(r"\(\s*\)", "", spoken)
    spoken = re.sub(r"[ \t]+", " ", spoken)
    spoken = re.sub(r"\s+([.,;:!?])", r"\1", spoken)
    return re.sub(r"\s*\n\s*", " ", spoken).strip()
