"""Turns a free-text pre-screen answer into a clean value, or None when it cannot be used.

Each parser is forgiving about how people write ("312.555.0142", "yeah", "IL", "Illinois")
and strict about what it stores (E.164, booleans, two-letter states).
"""
from __future__ import annotations

import re
import unicodedata

import phonenumbers

from bot.safety.crisis import APOSTROPHES, normalise

_YES = {"yes", "y", "yeah", "yea", "yep", "yup", "sure", "ok", "okay", "correct", "right",
        "true", "si", "sí", "ya", "definitely", "absolutely", "of course", "i do", "he does",
        "she does", "they do", "that's right", "thats right", "uh huh", "mhm"}
_NO = {"no", "n", "nope", "nah", "not really", "never", "none", "no way", "i don't", "i dont",
       "he doesn't", "she doesn't", "they don't", "not at all", "negative"}
_SKIP = {"skip", "pass", "prefer not to say", "rather not say", "i'd rather not", "next",
         "don't know", "dont know", "not sure", "idk", "unsure", "no idea",
         # Spanish "I don't know": starts with "no" but is not a no.
         "no se", "no sé", "no lo se", "no lo sé", "no sabemos", "no estoy seguro",
         "no estoy segura"}

US_STATES = {
    "AL": "alabama", "AK": "alaska", "AZ": "arizona", "AR": "arkansas", "CA": "california",
    "CO": "colorado", "CT": "connecticut", "DE": "delaware", "DC": "district of columbia",
    "FL": "florida", "GA": "georgia", "HI": "hawaii", "ID": "idaho", "IL": "illinois",
    "IN": "indiana", "IA": "iowa", "KS": "kansas", "KY": "kentucky", "LA": "louisiana",
    "ME": "maine", "MD": "maryland", "MA": "massachusetts", "MI": "michigan", "MN": "minnesota",
    "MS": "mississippi", "MO": "missouri", "MT": "montana", "NE": "nebraska", "NV": "nevada",
    "NH": "new hampshire", "NJ": "new jersey", "NM": "new mexico", "NY": "new york",
    "NC": "north carolina", "ND": "north dakota", "OH": "ohio", "OK": "oklahoma",
    "OR": "oregon", "PA": "pennsylvania", "RI": "rhode island", "SC": "south carolina",
    "SD": "south dakota", "TN": "tennessee", "TX": "texas", "UT": "utah", "VT": "vermont",
    "VA": "virginia", "WA": "washington", "WV": "west virginia", "WI": "wisconsin",
    "WY": "wyoming", "PR": "puerto rico",
}
_STATE_BY_NAME = {name: code for code, name in US_STATES.items()}
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                    r"(?:\.[a-z0-9-]{1,63})+$")
_ZIP = re.compile(r"\b(\d{5})(?:-\d{4})?\b")
_WORDS = re.compile(r"[a-z']+")


def _clean(text: str | None) -> str:
    return " ".join(re.sub(r"[,.!?;:]+", " ", normalise(text or "")).split())


def is_skip(text: str | None) -> bool:
    """True when the person chose not to answer an optional question."""
    return _clean(text) in _SKIP


def parse_yes_no(text: str | None) -> bool | None:
    cleaned = _clean(text)
    if cleaned in _SKIP:
        return None
    if cleaned in _YES or cleaned.startswith(("yes ", "yeah ", "yep ")):
        return True
    if cleaned in _NO or cleaned.startswith(("no ", "nope ", "nah ", "not ")):
        return False
    return None


def parse_for_whom(text: str | None) -> str | None:
    """"self" or "loved_one"."""
    words = set(_WORDS.findall(_clean(text)))
    loved_one = {"son", "daughter", "husband", "wife", "partner", "boyfriend", "girlfriend",
                 "mom", "mother", "dad", "father", "brother", "sister", "friend", "child", "kid",
                 "loved", "someone", "else", "family", "spouse", "fiance", "fiancee", "grandson",
                 "granddaughter", "nephew", "niece", "cousin", "parent", "they", "he", "she",
                 "him", "her", "them"}
    if words & loved_one:
        return "loved_one"
    if words & {"me", "myself", "i", "self", "mine", "i'm", "im"}:
        return "self"
    return None


_RELATIONSHIPS = {
    "parent": {"son", "daughter", "child", "kid", "stepson", "stepdaughter"},
    "spouse_or_partner": {"husband", "wife", "partner", "boyfriend", "girlfriend", "spouse",
                          "fiance", "fiancee"},
    "child": {"mom", "mother", "dad", "father", "parent"},
    "sibling": {"brother", "sister"},
    "friend": {"friend", "coworker", "roommate"},
    "relative": {"cousin", "nephew", "niece", "grandson", "granddaughter", "uncle", "aunt",
                 "grandma", "grandpa"},
}


def relationship_in(text: str | None) -> str | None:
    """The asker's relation to the person needing care: "my son" -> "parent"."""
    words = set(_WORDS.findall(_clean(text)))
    for relationship, markers in _RELATIONSHIPS.items():
        if words & markers:
            return relationship
    return None


def parse_first_name(text: str | None) -> str | None:
    """A first name to address them by, from "Sam", "I'm Sam" or "my name is sam".

    Kept as typed ("McKenzie", "DeShawn"); only an all-lowercase name gets a capital.
    """
    typed = " ".join(unicodedata.normalize("NFKC", text or "").translate(APOSTROPHES)
                     .strip(" .!?,").split())
    typed = re.sub(r"^(hi|hey|hello)[, ]+", "", typed, flags=re.IGNORECASE)
    typed = re.sub(r"^(my name is|my name's|name is|i'm|i am|im|it's|its|call me|this is|"
                   r"his name is|her name is|their name is)\s+", "", typed, flags=re.IGNORECASE)
    match = re.fullmatch(r"([^\W\d_][\w'\-]{0,29})(?:\s+[^\W\d_][\w'\-]{0,29})?", typed)
    if not match or any(ch.isdigit() or ch == "_" for ch in match.group(1)):
        return None
    name = match.group(1)
    if name.lower() in _YES | _NO | _SKIP or _clean(text) in _SKIP:
        return None  # "no", "yes", "skip" or "no sé" is not a name
    return name[:1].upper() + name[1:] if name.islower() else name


def parse_age_group(text: str | None) -> str | None:
    """"adult" (18 or over) or "under_18"."""
    cleaned = _clean(text)
    if re.search(r"\b(under|less than|younger than|not yet)\s*18\b|\bminor\b|\bteen", cleaned):
        return "under_18"
    if re.search(r"\b(over|older than|at least|above)\s*18\b|\badult\b|^18\s*(\+|or over|or older)",
                 cleaned):
        return "adult"
    numbers = [int(n) for n in re.findall(r"\b(\d{1,3})\b", cleaned)]
    if len(numbers) == 1 and 10 <= numbers[0] <= 110:
        return "adult" if numbers[0] >= 18 else "under_18"
    return parse_yes_no(text) and "adult" or None


def parse_state(text: str | None) -> str | None:
    """Two-letter code from "IL", "illinois", "Springfield, IL 62701" or a ZIP code alone."""
    cleaned = _clean(text)
    for name, code in sorted(_STATE_BY_NAME.items(), key=lambda item: -len(item[0])):
        if re.search(rf"\b{name}\b", cleaned):
            return code
    if cleaned.upper() in US_STATES:
        return cleaned.upper()
    # "in", "me", "or", "ok", "hi" are words as well as states; inside a sentence only the
    # codes that are not ordinary words count.
    codes = [t.upper() for t in re.findall(r"\b[a-z]{2}\b", cleaned) if t.upper() in US_STATES]
    unambiguous = [c for c in codes if c not in {"IN", "ME", "OR", "OK", "HI", "DE", "LA", "PA"}]
    if unambiguous:
        return unambiguous[-1]
    return state_of_zip(parse_zip(text))


def state_of_zip(zip_code: str | None) -> str | None:
    """The state a US ZIP code is in ("60601" -> "IL"), from the USPS data `zipcodes` bundles.

    None for a ZIP that does not exist, or one outside the states (military APO/FPO).
    """
    if zip_code is None:
        return None
    import zipcodes  # loads its ZIP table on import: only when a ZIP is given

    state = next((z["state"] for z in zipcodes.matching(zip_code)), None)
    return state if state in US_STATES else None


def parse_zip(text: str | None) -> str | None:
    match = _ZIP.search(text or "")
    return match.group(1) if match else None


def parse_us_phone(text: str | None) -> str | None:
    """E.164 ("+13125550142") for a valid US number, however it was typed; else None."""
    raw = (text or "")[:64]
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or number.country_code != 1:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def speakable_phone(e164: str) -> str:
    """"+13125550142" -> "(312) 555-0142", for confirming a number back to someone."""
    return phonenumbers.format_number(phonenumbers.parse(e164, "US"),
                                      phonenumbers.PhoneNumberFormat.NATIONAL)


def parse_email(text: str | None) -> str | None:
    cleaned = (text or "").strip().lower()
    return cleaned if len(cleaned) <= 254 and _EMAIL.match(cleaned) else None


def parse_suicidal_thoughts(text: str | None) -> str | None:
    """"now", "past" (in the last 30 days, not now) or "no"."""
    cleaned = _clean(text)
    if re.search(r"\bnot (right )?now\b|\bnot anymore\b|\bno longer\b", cleaned):
        return "past"
    if re.search(r"\b(now|today|tonight|currently|still)\b", cleaned) and parse_yes_no(
        cleaned.split(" ")[0]
    ) is not False:
        return "now"
    if re.search(r"\b(past|before|last week|last month|earlier|a while|weeks? ago|days? ago|"
                 r"used to)\b", cleaned):
        return "past"
    answer = parse_yes_no(text)
    if answer is False:
        return "no"
    # A bare "yes" is treated as "now": the safe reading when someone may be in danger.
    return "now" if answer else None
