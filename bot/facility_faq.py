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
QUESTION_FIELDS = ("key", "label", "examples", "answer")
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
    if not isinstance(data, dict):
        raise FacilityFaqError("the file must start with `questions:` (see its comments)")
    unknown = sorted(str(key) for key in data if key != "questions")
    if unknown:
        raise FacilityFaqError(f"unknown setting {unknown[0]!r}: the file holds `questions:` only")
    raw = data.get("questions")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FacilityFaqError("`questions:` must be a list")
    questions, seen = [], set()
    for number, entry in enumerate(raw, start=1):
        where = f"question {number}"
        if not isinstance(entry, dict):
            raise FacilityFaqError(f"{where} must have key, label, examples and answer")
        unknown = sorted(str(name) for name in entry if name not in QUESTION_FIELDS)
        if unknown:
            raise FacilityFaqError(f"{where}: unknown field {unknown[0]!r}; a question has "
                                   f"{', '.join(QUESTION_FIELDS)}")
        key = entry.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise FacilityFaqError(
                f"{where}: key must be 2-40 lowercase letters, digits or _, got {key!r}")
        if key in seen:
            raise FacilityFaqError(f"{where}: the key {key!r} is used twice")
        seen.add(key)
        where = f"question {key!r}"
        examples = entry.get("examples")
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            raise FacilityFaqError(f"{where}: examples must be a list of phrasings")
        if any("\n" in e or "\r" in e for e in examples):
            raise FacilityFaqError(f"{where}: each example must be one line")
        distinct = list(dict.fromkeys(e.strip() for e in examples if e.strip()))
        if len(distinct) < MIN_EXAMPLES:
            raise FacilityFaqError(
                f"{where}: give at least {MIN_EXAMPLES} different phrasings, got {len(distinct)}")
        answer = entry.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise FacilityFaqError(f"{where}: the answer must be text")
        answer = (answer or "").strip()
        if not answer:
            raise FacilityFaqError(f"{where}: the answer is empty")
        if len(answer) > SMS_LIMIT:
            raise FacilityFaqError(
                f"{where}: the answer is {len(answer)} characters; one text message holds "
                f"{SMS_LIMIT}")
        if "{" in answer or "}" in answer:
            raise FacilityFaqError(
                f"{where}: write the answer out in full (type the phone number itself), "
                "without { }")
        label = entry.get("label") or key.replace("_", " ")
        if not isinstance(label, str) or "\n" in label.strip() or len(label) > 80:
            raise FacilityFaqError(f"{where}: the label must be a short line of text")
        label = label.strip()
        questions.append(CenterQuestion(TOPIC_PREFIX + key, label, tuple(distinct), answer))
    return questions


def load_facility_faq(path: Path = FACILITY_FAQ_PATH) -> list[CenterQuestion]:
    """The center's questions; none when the file does not exist."""
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except UnicodeDecodeError as error:
        raise FacilityFaqError(f"{path} must be saved as UTF-8 text") from error
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
