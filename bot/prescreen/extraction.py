"""Finds substances and insurance carriers in free text with a spaCy EntityRuler.

The pipeline is `spacy.blank("en")` plus patterns kept as data in `patterns/`: no pretrained
model is needed, and staff can add slang without touching code.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from spacy.language import Language

PATTERNS_DIR = Path(__file__).resolve().parent / "patterns"
SUBSTANCE_LABEL = "SUBSTANCE"
INSURER_LABEL = "INSURER"
# Answers to the insurance question that are not carriers.
SELF_PAY = "self_pay"
NO_INSURANCE = "none"


def _ruler_patterns(path: Path, label: str, nlp: Language) -> list[dict]:
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))
    patterns = []
    for canonical, phrases in groups.items():
        for phrase in phrases:
            # Token patterns on LOWER so "Xanax", "XANAX" and "xanax" all match.
            tokens = [{"LOWER": token.lower_} for token in nlp.make_doc(str(phrase))]
            patterns.append({"label": label, "pattern": tokens, "id": str(canonical)})
    return patterns


@lru_cache(maxsize=1)
def extraction_pipeline() -> Language:
    # Imported on first use: the Rasa server reads slot names from bot.prescreen.questions
    # (bot/prescreen/lead.py) and never extracts, so it need not load spaCy.
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(
        _ruler_patterns(PATTERNS_DIR / "substances.yml", SUBSTANCE_LABEL, nlp)
        + _ruler_patterns(PATTERNS_DIR / "insurers.yml", INSURER_LABEL, nlp)
    )
    return nlp


def _found(text: str | None, label: str) -> list[str]:
    if not text or not text.strip():
        return []
    # Long messages are cut: nobody lists substances after the first few thousand characters.
    doc = extraction_pipeline()(text[:2000])
    seen: list[str] = []
    for entity in doc.ents:
        if entity.label_ == label and entity.ent_id_ not in seen:
            seen.append(entity.ent_id_)
    return seen


def substances_in(text: str | None) -> list[str]:
    """Substance groups mentioned, in order of first mention: "booze and xanax" -> alcohol,
    benzos."""
    return _found(text, SUBSTANCE_LABEL)


def insurer_in(text: str | None) -> str | None:
    """The carrier named (canonical spelling), or "self_pay" / "none", or None if unclear."""
    found = _found(text, INSURER_LABEL)
    carriers = [name for name in found if name not in (SELF_PAY, NO_INSURANCE)]
    # A named carrier wins over "none" ("no insurance other than medicaid" -> Medicaid).
    if carriers:
        return carriers[0]
    return found[0] if found else None


def carrier_in(text: str | None) -> str | None:
    """The insurance carrier a message names (canonical spelling); None for self-pay, no
    insurance, or none named."""
    insurer = insurer_in(text)
    return None if insurer in (SELF_PAY, NO_INSURANCE) else insurer


def canonical_carriers(names: tuple[str, ...]) -> frozenset[str]:
    """Plan names as the extractor spells them ("Medicaid (Illinois)" -> "Medicaid"), so a
    plan a person names is compared like with like; a name it does not know is kept."""
    return frozenset(insurer_in(name) or name for name in names)
