"""The FAQ topic catalogue: each topic's name for people, and the facility profile facts its
answer needs. The built-in topics come from bot/faq_topics.yml, the center's own questions
from bot/facility_faq.yml. Pure Python, no Rasa import."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.facility_faq import FACILITY_FAQ_PATH, load_facility_faq
from bot.settings import BOT_DIR

CATALOGUE_PATH = BOT_DIR / "faq_topics.yml"
DEFAULT_LANGUAGE = "en"
RETRIEVAL_INTENT = "faq"


class FaqTopicsError(ValueError):
    """The catalogue file is malformed."""


@dataclass(frozen=True)
class FaqTopic:
    key: str
    # Language code -> how the assistant names the topic ("drug testing").
    labels: Mapping[str, str]
    # Names under the profile's `details:` that the answer is filled with.
    needs: tuple[str, ...] = ()

    def label(self, language: str | None = None) -> str:
        return self.labels.get(language or DEFAULT_LANGUAGE) or self.labels[DEFAULT_LANGUAGE]


def parse_topics(data: object) -> dict[str, FaqTopic]:
    raw = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise FaqTopicsError("the FAQ catalogue needs a `topics:` mapping")
    topics = {}
    for key, entry in raw.items():
        labels = (entry or {}).get("label") if isinstance(entry, dict) else None
        if not isinstance(labels, dict) or not labels.get(DEFAULT_LANGUAGE):
            raise FaqTopicsError(f"topic {key} needs label.{DEFAULT_LANGUAGE}")
        needs = entry.get("needs") or []
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise FaqTopicsError(f"topic {key}: needs must be a list of detail names")
        topics[str(key)] = FaqTopic(str(key), {str(k): str(v) for k, v in labels.items()},
                                    tuple(needs))
    return topics


@lru_cache(maxsize=4)
def load_topics(
    path: Path = CATALOGUE_PATH, facility_faq_path: Path = FACILITY_FAQ_PATH
) -> dict[str, FaqTopic]:
    """Built-in topics and the center's own questions (read once per process)."""
    with open(path, encoding="utf-8") as handle:
        topics = parse_topics(yaml.safe_load(handle))
    for question in load_facility_faq(facility_faq_path):
        # A center's answer is written whole, so it needs no profile facts.
        topics[question.key] = FaqTopic(question.key, {DEFAULT_LANGUAGE: question.label})
    return topics


def topic_key(full_label: str | None) -> str | None:
    """`faq/drug_testing` -> `drug_testing`; anything else -> None."""
    prefix = RETRIEVAL_INTENT + "/"
    if full_label and full_label.startswith(prefix):
        return full_label[len(prefix):]
    return None


def known_details(topics: Mapping[str, FaqTopic]) -> set[str]:
    """Every `details:` name some topic reads; a profile field outside it is a typo."""
    return {name for topic in topics.values() for name in topic.needs}
