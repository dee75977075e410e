"""Splits a reply into text messages that each fit in at most two SMS segments.

A segment holds 160 GSM-7 characters, or 70 UCS-2 ones once any character outside GSM-7
(an emoji, a curly quote, "ñ" is fine but "ő" is not) appears. A message of several segments
loses a few characters to the header that stitches them together: 153 and 67. Two segments
is what most carriers deliver reliably in order, so a longer reply becomes several messages,
cut after a sentence where possible so each one reads on its own.
"""
from __future__ import annotations

import re

# The GSM 03.38 basic set, and the extension characters that take two septets each.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")

MAX_SEGMENTS = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text)


def _units(text: str) -> int:
    """Length in the units segments are counted in: septets for GSM-7, UTF-16 code units else."""
    if is_gsm7(text):
        return sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def segment_count(text: str) -> int:
    units = _units(text)
    single, multi = (160, 153) if is_gsm7(text) else (70, 67)
    if units <= single:
        return 1
    return -(-units // multi)


def fits(text: str, max_segments: int = MAX_SEGMENTS) -> bool:
    return segment_count(text) <= max_segments


def split_for_sms(text: str, max_segments: int = MAX_SEGMENTS) -> list[str]:
    """Messages of at most `max_segments` segments each, split after sentences, then words.

    Never splits inside a character (emoji included), and never drops text.
    """
    text = text.strip()
    if not text:
        return []
    if fits(text, max_segments):
        return [text]
    pieces = [p for p in _SENTENCE_END.split(text) if p]
    messages: list[str] = []
    current = ""
    for piece in pieces:
        for part in _fit_piece(piece, max_segments):
            candidate = f"{current} {part}" if current else part
            if fits(candidate, max_segments):
                current = candidate
            else:
                messages.append(current)
                current = part
    if current:
        messages.append(current)
    return messages


def _fit_piece(piece: str, max_segments: int) -> list[str]:
    """A sentence too long for one message is cut between words (characters as a last resort)."""
    if fits(piece, max_segments):
        return [piece]
    parts: list[str] = []
    current = ""
    for word in piece.split(" "):
        candidate = f"{current} {word}" if current else word
        if fits(candidate, max_segments):
            current = candidate
            continue
        if current:
            parts.append(current)
        current = word
        while not fits(current, max_segments):
            cut = len(current)
            while cut > 1 and not fits(current[:cut], max_segments):
                cut -= 1
            parts.append(current[:cut])
            current = current[cut:]
    if current:
        parts.append(current)
    return parts
