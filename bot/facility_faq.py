"""A center's own questions (bot/facility_faq.yml): parsed and checked, as plain data.

Each question becomes the FAQ topic `center_<key>`: its examples are training data and its
answer a reply (bot/nlu/facility_faq_importer.py hands both to Rasa at training time), and
bot.faq_topics names it in "Did you mean ...?". Pure Python, no Rasa import, so a center's
mistakes are reported in plain words before any training starts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.settings import BOT_DIR

FACILITY_FAQ_PATH = BOT_DIR / "facility_faq.yml"
TOPIC_PREFIX = "center_"
SMS_LIMIT = 320
MIN_EXAMPLES = 5
_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


class FacilityFaqError(ValueError):
    """bot/facility_faq.yml has a mistake; the message says which question and what."""


@dataclass(frozen=True)
class CenterQuestion:
    key: str  # the topic key, `center_<key>`
    label: str
    examples: tuple[str, ...]
    answer: str


def parse_facility_faq(data: object) -> list[CenterQuestion]:
    if data is None:
        return []
    raw = data.get("questions") if isinstance(data, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FacilityFaqError("`questions:` must be a list")
    questions, seen = [], set()
    for number, entry in enumerate(raw, start=1):
        where = f"question {number}"
        if not isinstance(entry, dict):
            raise FacilityFaqError(f"{where} must have key, label, examples and answer")
        key = str(entry.get("key") or "")
        if not _KEY.match(key):
            raise FacilityFaqError(
                f"{where}: key must be 2-40 lowercase letters, digits or _, got {key!r}")
        if key in seen:
            raise FacilityFaqError(f"{where}: the key {key!r} is used twice")
        seen.add(key)
        where = f"question {key!r}"
        examples = entry.get("examples")
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            raise FacilityFaqError(f"{where}: examples must be a list of phrasings")
        distinct = list(dict.fromkeys(e.strip() for e in examples if e.strip()))
        if len(distinct) < MIN_EXAMPLES:
            raise FacilityFaqError(
                f"{where}: give at least {MIN_EXAMPLES} different phrasings, got {len(distinct)}")
        answer = str(entry.get("answer") or "").strip()
        if not answer:
            raise FacilityFaqError(f"{where}: the answer is empty")
        if len(answer) > SMS_LIMIT:
            raise FacilityFaqError(
                f"{where}: the answer is {len(answer)} characters; one text message holds "
                f"{SMS_LIMIT}")
        if "{" in answer or "}" in answer:
            raise FacilityFaqError(f"{where}: write the answer out in full, without {{ }}")
        label = str(entry.get("label") or key.replace("_", " ")).strip()
        questions.append(CenterQuestion(TOPIC_PREFIX + key, label, tuple(distinct), answer))
    return questions


def load_facility_faq(path: Path = FACILITY_FAQ_PATH) -> list[CenterQuestion]:
    """The center's questions; none when the file does not exist."""
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise FacilityFaqError(f"{path} is not valid YAML: {error}") from error
    return parse_facility_faq(data)


def main() -> int:
    """`python -m bot.facility_faq`: check the file before training, in plain words."""
    import sys

    try:
        questions = load_facility_faq()
    except FacilityFaqError as error:
        print(f"{FACILITY_FAQ_PATH.name}: {error}", file=sys.stderr)
        return 1
    print(f"{FACILITY_FAQ_PATH.name}: {len(questions)} question(s), all fine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
