"""Folds a message into the plain lower-case Latin the crisis patterns are written in.

People in distress, and people dodging a filter, write "k1ll mys3lf", "kіll mysеlf" (with
Cyrillic letters), "ᴋɪʟʟ ᴍʏsᴇʟғ", "k i l l m y s e l f" or hide a zero-width space inside a
word. `fold` undoes what changes how a word looks but not what it says; `spellings` adds the
readings the crisis patterns also need (digits and symbols read as letters, spaced-out letters
joined). Repeated letters ("killlll") are left alone here: the pattern compiler lets every
letter of a pattern match a run of itself (bot/safety/crisis.py says why).

Everything here is linear in the message's length; no Rasa import.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

from confusable_homoglyphs.confusables import confusables_data

# Apostrophes phone keyboards and word processors type instead of "'".
APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}

# Generators of "small caps" text use the Cyrillic ghe with stroke for the small capital F,
# which Unicode's confusables data (rightly) pairs with r-with-stroke instead. The one
# look-alike the data does not give us.
SMALL_CAPITAL_STAND_INS = {"\u0493": "f"}
# Latin letters the confusables data pairs only with non-Latin ones: kra ("ĸill").
LATIN_STAND_INS = {"\u0138": "k"}

# Letters in boxes and circles ("🅺🅸🅻🅻", "ⓚⓘⓛⓛ" once NFKD has opened the circle) and the
# regional indicators fancy-text generators use: named after the letter they show.
_BOXED_LETTER = re.compile(r"(?:NEGATIVE )?(?:SQUARED|CIRCLED|PARENTHESIZED) LATIN "
                           r"(?:CAPITAL |SMALL )?LETTER ([A-Z])|REGIONAL INDICATOR SYMBOL "
                           r"LETTER ([A-Z])")
# A capital I or a pipe standing for an l inside a lower-case word: "kill myseIf", "kiII",
# "ki||". Tried as an extra reading, before lower-casing makes "I" an "i".
_I_OR_PIPE_FOR_L = re.compile(r"(?<=[a-z])[I|]+|[I|]+(?=[a-z])")
# A word broken by hyphens: "sui-cide".
_HYPHEN_INSIDE_WORD = re.compile(r"(?<=[a-z])-(?=[a-z])")

_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
_ASCII_LETTER_OR_DIGIT = re.compile(r"[a-zA-Z0-9]")

# Digits and symbols read as the letters they stand in for, inside a word that also has
# letters: "k1ll", "$uicide", "d!e". A "1" is as often an "l" as an "i" ("ki11"), so both
# readings are tried. "!" only between letters: the one in "help!" is punctuation.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
LEET_AS_I = str.maketrans(_LEET)
LEET_AS_L = str.maketrans({**_LEET, "1": "l"})
_LEET_CHARACTERS = re.compile(r"[013457@$!]")
_BANG_BETWEEN_LETTERS = re.compile(r"(?<=[a-z0-9@$])!+(?=[a-z0-9@$])")

# Three or more one-letter words in a row are one word spelt out ("k i l l"), and so is a
# word of single letters joined by dots or dashes ("s.u.i.c.i.d.e"); "a" and "i" alone are not.
_SPELLED_OUT = re.compile(r"(?<!\S)[a-z](?: [a-z]){2,}(?!\S)")
_SPELLED_WITH_SEPARATORS = re.compile(r"(?<!\S)[a-z](?:[.\-_*~][a-z]){2,}(?=[.\-_*~,!?]*(?!\S))")
_SEPARATORS = re.compile(r"[ .\-_*~]")
# Cheap first looks, so ordinary text never pays for the full patterns above.
_SPELLED_OUT_HINT = re.compile(r" [a-z] [a-z] [a-z] ")
_SPELLED_WITH_SEPARATORS_HINT = re.compile(r"[a-z][.\-_*~][a-z][.\-_*~][a-z]")


class WordFinder(Protocol):
    """A compiled alternation of words (re or re2): `sub` sets each found word apart."""

    def sub(self, replacement: Callable[[re.Match], str], text: str) -> str: ...


def fold(text: str | None) -> str:
    """Lower case; format characters, accents and marks dropped; look-alikes made Latin.

    "Tomó" -> "tomo", "ki\\u200bll" -> "kill", "kіll" (Cyrillic і) -> "kill",
    "ᴋɪʟʟ" -> "kill", fullwidth and mathematical letters -> plain ones; whitespace collapsed.
    """
    # NFKD splits accented letters into letter + mark and turns compatibility forms
    # (fullwidth, mathematical bold, ligatures, superscripts) into plain letters; lower()
    # comes before the table so one lower-case entry serves both cases. An acute accent
    # typed as an apostrophe goes first, or NFKD would make it a space.
    # A lone surrogate (JSON allows "\ud800") is no character: it becomes "?" rather than
    # failing every step after this one.
    text = (text or "").encode("utf-8", "replace").decode("utf-8")
    decomposed = unicodedata.normalize("NFKD", text.replace("\u00b4", "'")).lower()
    return " ".join(decomposed.translate(folding_table()).split())


def fold_look_alikes(text: str) -> tuple[str, list[int]]:
    """The message as the intent classifiers should read it, and where each character came from.

    What `fold` does to a letter, but case, digits, punctuation and spacing kept: "Hоw much
    dоes it cоst" (Cyrillic о) -> "How much does it cost", "ki\u200bll" -> "kill", "café" ->
    "cafe". The second value gives, for each character of the result, the index in `text` of
    the character it came from, so token offsets can point into the message as typed.
    Plain ASCII comes back unchanged.
    """
    if text.isascii():
        return text, list(range(len(text)))
    table = folding_table()
    pieces: list[str] = []
    origins: list[int] = []
    for index, character in enumerate(text):
        if character.isascii():
            piece = character
        else:
            piece = unicodedata.normalize("NFKD", character).lower().translate(table)
            if character.isupper():
                piece = piece.upper()
        pieces.append(piece)
        origins.extend([index] * len(piece))
    return "".join(pieces), origins


def spellings(text: str | None, known_words: WordFinder | None = None) -> list[str]:
    """The folded message in each reading the crisis patterns are matched against.

    The first is the folded message with digits and symbols inside words read as letters;
    the others are added only when they differ: each "1" read as "l", letters spelt out one
    at a time joined into words, and, where `known_words` finds some of its words inside such
    a joined run ("gonnakillmyself"), the run with those words set apart ("gonna kill
    myself"). A look-alike of a capital I or a pipe inside a word is also read as an "l".
    """
    folded = fold(text)
    readings = _leet_readings(folded) if _LEET_CHARACTERS.search(folded) else [folded]
    extra = [_join_spelled_out_letters(readings[0])]
    if known_words is not None and extra[0] != readings[0]:
        extra.append(_join_spelled_out_letters(readings[0], known_words))
    if text:
        # "kiＩＩ", "kiӀӀ", "ki𝐈𝐈": fullwidth, Cyrillic and mathematical capital I as l.
        with_capital_i = (text if text.isascii()
                          else unicodedata.normalize("NFKC", text).translate(_l_look_alikes()))
        if "I" in with_capital_i or "|" in with_capital_i:
            extra.append(fold(_I_OR_PIPE_FOR_L.sub(lambda m: "l" * len(m.group()),
                                                   with_capital_i)))
    if "-" in folded:
        extra.append(_HYPHEN_INSIDE_WORD.sub("", readings[0]))
    return list(dict.fromkeys([*readings, *extra]))


def _leet_readings(folded: str) -> list[str]:
    text = _BANG_BETWEEN_LETTERS.sub("i", folded)
    as_i = text.translate(LEET_AS_I)
    if as_i == text:
        return [text]
    # Translated whole (fast), then each word kept as typed unless it has a letter (a word
    # of the lower-case text has one when upper-casing changes it): "911" and "$20" stay.
    words = text.split(" ")
    read_as_i = [read if read != word and word != word.upper() else word
                 for word, read in zip(words, as_i.split(" "), strict=True)]
    readings = [" ".join(read_as_i)]
    if "1" in text:
        as_l = text.translate(LEET_AS_L).split(" ")
        read_as_l = [l_word if read != word else word
                     for word, read, l_word in zip(words, read_as_i, as_l, strict=True)]
        readings.append(" ".join(read_as_l))
    return readings


def _join_spelled_out_letters(reading: str, known_words: WordFinder | None = None) -> str:
    def joined(match: re.Match) -> str:
        run = _SEPARATORS.sub("", match.group())
        if known_words is None:
            return run
        return " ".join(known_words.sub(_set_apart, run).split())

    if _SPELLED_WITH_SEPARATORS_HINT.search(reading):
        reading = _SPELLED_WITH_SEPARATORS.sub(joined, reading)
    if _SPELLED_OUT_HINT.search(f" {reading} "):
        reading = _SPELLED_OUT.sub(joined, reading)
    return reading


def _set_apart(match: re.Match) -> str:
    return f" {match.group()} "


@lru_cache(maxsize=1)
def _l_look_alikes() -> dict[int, str]:
    """str.translate table: what Unicode's confusables data lists as looking like "l" (capital
    I look-alikes among them) as a capital I, for the I-read-as-l reading."""
    return {ord(homoglyph["c"]): "I" for homoglyph in confusables_data.get("l", [])
            if len(homoglyph["c"]) == 1 and not homoglyph["c"].isascii()}


@lru_cache(maxsize=1)
def folding_table() -> dict[int, str | None]:
    """str.translate table: marks and format characters dropped, look-alikes to Latin.

    Built once from Unicode's own data: character categories and names (unicodedata) and
    the TR39 confusables list (the confusable_homoglyphs package). Only letters are mapped,
    never punctuation ("¡" stays "¡"), and only to an ASCII letter or digit, so Latin text,
    Spanish included once NFKD has split off its accents, passes through unchanged.
    """
    table: dict[int, str | None] = {}
    for code in _code_points():
        character = chr(code)
        category = unicodedata.category(character)
        if category == "Cf" or category.startswith("M"):
            # Format characters (zero-width space and joiners, direction marks, soft hyphen,
            # BOM, tags) and combining marks (accents, once NFKD has split them off).
            table[code] = None
        elif category == "Ll":
            small_capital = _SMALL_CAPITAL.fullmatch(unicodedata.name(character, ""))
            if small_capital:
                table[code] = small_capital.group(1).lower()
        elif category == "So":
            boxed = _BOXED_LETTER.fullmatch(unicodedata.name(character, ""))
            if boxed:
                table[code] = (boxed.group(1) or boxed.group(2)).lower()
    for character, latin in _confusable_letters().items():
        table.setdefault(ord(character), latin)
    stand_ins = {**SMALL_CAPITAL_STAND_INS, **LATIN_STAND_INS, **APOSTROPHES}
    table.update({ord(k): v for k, v in stand_ins.items()})
    return table


def _code_points() -> itertools.chain:
    # The Basic and Supplementary Multilingual Planes, and the tags and variation selectors
    # of plane 14: every mark, format character and letter a keyboard can send.
    return itertools.chain(range(0x20000), range(0xE0000, 0xE1000))


def _confusable_letters() -> dict[str, str]:
    """Non-Latin letters that look like one Latin letter or digit, lower-cased."""
    mapping: dict[str, str] = {}
    for character in confusables_data:
        if len(character) != 1 or character.isascii():
            continue
        if not unicodedata.category(character).startswith("L"):
            continue
        # Look-alikes of the character itself, else of its capital: Cyrillic "к" is listed
        # only with a non-Latin kra, but "К" looks like "K".
        latin = _latin_look_alike(character) or _latin_look_alike(character.upper())
        if latin:
            mapping[character] = latin.lower()
    # And the other way round: the letters the data lists as look-alikes of a Latin one.
    for latin in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        for homoglyph in confusables_data.get(latin, []):
            character = homoglyph["c"]
            if (len(character) == 1 and not character.isascii()
                    and unicodedata.category(character).startswith("L")):
                mapping.setdefault(character, latin.lower())
    return mapping


def _latin_look_alike(character: str) -> str | None:
    candidates = []
    for homoglyph in confusables_data.get(character, []):
        # Entries may carry direction marks or a combining overlay ("r̵"): keep the base.
        base = "".join(c for c in unicodedata.normalize("NFKD", homoglyph["c"])
                       if not unicodedata.category(c).startswith(("M", "C")))
        if len(base) == 1 and _ASCII_LETTER_OR_DIGIT.fullmatch(base):
            candidates.append(base)
    # A letter rather than a digit when the data offers both.
    letters = [c for c in candidates if c.isalpha()]
    return (letters or candidates or [None])[0]
